// Package chart draws the benchmark's horizontal bar charts as PNG with the
// standard library only: bars, a dashed goal line per panel, and labels in a
// built-in 5x7 bitmap font.
package chart

import (
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
)

// Bar is one row of a panel.
type Bar struct {
	Label string  // left of the bar
	Value float64 // bar length; NaN or negative draws no bar
	Text  string  // right of the bar
	Color color.RGBA
}

// Panel is one bar chart with a title and an optional goal line.
type Panel struct {
	Title     string
	Bars      []Bar
	Goal      float64 // drawn as a dashed line when > 0
	GoalLabel string
	Max       float64 // axis maximum; 0: the largest of bars and goal, plus 10%
}

// Colors for the usual roles.
var (
	Gray   = color.RGBA{150, 150, 150, 255}
	Blue   = color.RGBA{70, 120, 200, 255}
	Green  = color.RGBA{40, 160, 90, 255}
	Orange = color.RGBA{230, 130, 40, 255}
	Red    = color.RGBA{210, 50, 50, 255}
	ink    = color.RGBA{30, 30, 30, 255}
	faint  = color.RGBA{225, 225, 225, 255}
	white  = color.RGBA{255, 255, 255, 255}
)

const (
	scale    = 2 // font pixel size
	charW    = (glyphW + 1) * scale
	lineH    = (glyphH + 4) * scale
	barH     = 26
	rowH     = 34
	margin   = 20
	labelW   = 25 * charW // label column
	barAreaW = 440
	textW    = 30 * charW // value text column
	width    = margin + labelW + barAreaW + 12 + textW + margin
)

// Render draws the title lines and the panels stacked vertically.
func Render(title []string, panels []Panel) *image.RGBA {
	h := margin + len(title)*lineH + margin/2
	for _, p := range panels {
		h += lineH + len(p.Bars)*rowH + lineH + margin
	}
	img := image.NewRGBA(image.Rect(0, 0, width, h))
	fill(img, img.Bounds(), white)
	y := margin
	for _, t := range title {
		Text(img, margin, y, t, ink)
		y += lineH
	}
	y += margin / 2
	for _, p := range panels {
		y = drawPanel(img, y, p)
	}
	return img
}

func drawPanel(img *image.RGBA, y int, p Panel) int {
	Text(img, margin, y, p.Title, ink)
	y += lineH
	top := y
	x0 := margin + labelW
	maxV := p.Max
	if maxV <= 0 {
		for _, b := range p.Bars {
			if !math.IsNaN(b.Value) {
				maxV = math.Max(maxV, b.Value)
			}
		}
		maxV = math.Max(maxV, p.Goal) * 1.1
	}
	if maxV <= 0 {
		maxV = 1
	}
	px := func(v float64) int { return x0 + int(math.Round(v/maxV*barAreaW)) }
	area := image.Rect(x0, top-4, x0+barAreaW, top+len(p.Bars)*rowH)
	fill(img, area, color.RGBA{248, 248, 248, 255})
	for _, b := range p.Bars {
		Text(img, margin, y+(barH-glyphH*scale)/2, b.Label, ink)
		if !math.IsNaN(b.Value) && b.Value > 0 {
			fill(img, image.Rect(x0, y, px(math.Min(b.Value, maxV)), y+barH), b.Color)
		}
		Text(img, x0+barAreaW+12, y+(barH-glyphH*scale)/2, b.Text, ink)
		y += rowH
	}
	// Axis line.
	fill(img, image.Rect(x0-1, top-4, x0+1, y), ink)
	if p.Goal > 0 {
		gx := px(p.Goal)
		for yy := top - 4; yy < y; yy += 8 {
			fill(img, image.Rect(gx-1, yy, gx+1, min(yy+5, y)), Red)
		}
		label := p.GoalLabel
		lx := min(gx-len([]rune(label))*charW/2, x0+barAreaW-len([]rune(label))*charW)
		Text(img, max(lx, x0), y+4, label, Red)
	}
	y += lineH
	fill(img, image.Rect(margin, y+margin/2-1, width-margin, y+margin/2), faint)
	return y + margin
}

// Text draws s at (x, y) (top left) in the bitmap font, upper case.
func Text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for gy, row := range g {
			for gx, px := range row {
				if px == '#' {
					fill(img, image.Rect(x+gx*scale, y+gy*scale, x+(gx+1)*scale, y+(gy+1)*scale), c)
				}
			}
		}
		x += charW
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// Encode writes img as PNG.
func Encode(w io.Writer, img image.Image) error { return png.Encode(w, img) }

// WriteFile writes img as a PNG file.
func WriteFile(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
