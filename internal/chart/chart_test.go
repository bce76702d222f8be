package chart

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

func TestGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for i, row := range g {
			if len(row) != glyphW {
				t.Errorf("glyph %q row %d is %d wide", r, i, len(row))
			}
		}
	}
	if glyph('a') != glyphs['A'] || glyph('~') != glyphs['?'] {
		t.Error("lower case or fallback glyph wrong")
	}
}

func TestRender(t *testing.T) {
	img := Render([]string{"title"}, []Panel{{
		Title: "throughput", Goal: 1, GoalLabel: "goal",
		Bars: []Bar{{Label: "a", Value: 2, Text: "2.00", Color: Blue}, {Label: "b", Value: math.NaN(), Text: "-", Color: Gray}},
	}})
	var buf bytes.Buffer
	if err := Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != width {
		t.Fatalf("width %d", img.Bounds().Dx())
	}
}
