package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

// element is any SVG element as decoded, with its attributes and text.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// decode parses an SVG document, failing the test if it is not well formed.
func decode(t *testing.T, b []byte) (root xml.StartElement, els []element) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	open := false // an element other than the root is open: char data is its text
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root, els
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root.Name.Local == "" {
				root = tok.Copy()
				continue
			}
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els, open = append(els, e), true
		case xml.EndElement:
			open = false
		case xml.CharData:
			if open {
				els[len(els)-1].text += string(tok)
			}
		}
	}
}

func TestRender(t *testing.T) {
	b, err := Render([]string{"Title <1 & 2>"}, []Panel{{
		Title: "throughput", Goal: 1, GoalLabel: "goal",
		Bars: []Bar{
			{Label: "a", Value: 2, Text: "2.00", Color: Blue},
			{Label: "b", Value: math.NaN(), Text: "-", Color: Gray},
			{Label: "c", Value: 1, Text: "1.00", Color: Orange},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	root, els := decode(t, b)
	if root.Name.Space != "http://www.w3.org/2000/svg" || root.Name.Local != "svg" {
		t.Fatalf("root element %v", root.Name)
	}

	var texts, bars []string
	var barWidth []string
	var goal []element
	for _, e := range els {
		switch {
		case e.name == "text":
			texts = append(texts, e.text)
		case e.name == "rect" && (e.attrs["fill"] == hex(Blue) || e.attrs["fill"] == hex(Orange) || e.attrs["fill"] == hex(Gray)):
			bars = append(bars, e.attrs["fill"])
			barWidth = append(barWidth, e.attrs["width"])
		case e.name == "line" && e.attrs["stroke-dasharray"] != "":
			goal = append(goal, e)
		}
	}
	for _, want := range []string{"Title <1 & 2>", "throughput", "a", "2.00", "b", "-", "c", "1.00", "goal"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no text %q in %q", want, texts)
		}
	}
	// A bar for a and c; none for b's NaN. The axis spans 2 × 1.1: a is 400 px of 440, c 200.
	if strings.Join(bars, ",") != hex(Blue)+","+hex(Orange) || strings.Join(barWidth, ",") != "400,200" {
		t.Errorf("bars %v widths %v", bars, barWidth)
	}
	if len(goal) != 1 || goal[0].attrs["stroke"] != hex(Red) || goal[0].attrs["x1"] != "420" {
		t.Errorf("goal line %v, want one at x 420 (the axis at 220 plus 200)", goal)
	}
	if !bytes.Contains(b, []byte("Title &lt;1 &amp; 2&gt;")) {
		t.Error("title not escaped")
	}
}
