// Package chart draws the benchmark's horizontal bar charts as SVG: bars, a
// dashed goal line per panel, and text labels, written with encoding/xml so
// that every label is escaped and the document is well formed. The text is
// left to the viewer's monospace font; the layout assumes about 0.6 em a
// character.
package chart

import (
	"encoding/xml"
	"fmt"
	"image/color"
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
	area   = color.RGBA{248, 248, 248, 255}
	white  = color.RGBA{255, 255, 255, 255}
)

// Layout, in pixels.
const (
	fontSize = 13
	charW    = 8 // a monospace character at fontSize, rounded up
	lineH    = 22
	barH     = 22
	rowH     = 28
	margin   = 20
	labelW   = 25 * charW // label column
	barAreaW = 440
	gap      = 12
	textW    = 30 * charW // value text column
	width    = margin + labelW + barAreaW + gap + textW + margin
)

// The SVG elements the chart uses.
type (
	svg struct {
		XMLName xml.Name `xml:"http://www.w3.org/2000/svg svg"`
		Width   int      `xml:"width,attr"`
		Height  int      `xml:"height,attr"`
		ViewBox string   `xml:"viewBox,attr"`
		Font    string   `xml:"font-family,attr"`
		Size    int      `xml:"font-size,attr"`
		Items   []any
	}
	rect struct {
		XMLName xml.Name `xml:"rect"`
		X       int      `xml:"x,attr"`
		Y       int      `xml:"y,attr"`
		W       int      `xml:"width,attr"`
		H       int      `xml:"height,attr"`
		Fill    string   `xml:"fill,attr"`
	}
	line struct {
		XMLName xml.Name `xml:"line"`
		X1      int      `xml:"x1,attr"`
		Y1      int      `xml:"y1,attr"`
		X2      int      `xml:"x2,attr"`
		Y2      int      `xml:"y2,attr"`
		Stroke  string   `xml:"stroke,attr"`
		Width   int      `xml:"stroke-width,attr"`
		Dash    string   `xml:"stroke-dasharray,attr,omitempty"`
	}
	text struct {
		XMLName  xml.Name `xml:"text"`
		X        int      `xml:"x,attr"`
		Y        int      `xml:"y,attr"` // the middle of the line (dominant-baseline)
		Fill     string   `xml:"fill,attr"`
		Anchor   string   `xml:"text-anchor,attr,omitempty"`
		Weight   string   `xml:"font-weight,attr,omitempty"`
		Baseline string   `xml:"dominant-baseline,attr"`
		Body     string   `xml:",chardata"`
	}
)

// Render returns the title lines and the panels, stacked vertically, as an
// SVG document.
func Render(title []string, panels []Panel) ([]byte, error) {
	h := margin + len(title)*lineH + margin/2
	for _, p := range panels {
		h += lineH + len(p.Bars)*rowH + lineH + margin
	}
	doc := svg{
		Width: width, Height: h, ViewBox: fmt.Sprintf("0 0 %d %d", width, h),
		Font: "DejaVu Sans Mono, Menlo, Consolas, monospace", Size: fontSize,
	}
	doc.add(rect{X: 0, Y: 0, W: width, H: h, Fill: hex(white)})
	y := margin
	for i, t := range title {
		weight := ""
		if i == 0 {
			weight = "bold"
		}
		doc.add(label(margin, y+lineH/2, t, ink, "", weight))
		y += lineH
	}
	y += margin / 2
	for _, p := range panels {
		y = doc.panel(y, p)
	}
	out, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// WriteFile writes Render's SVG to path.
func WriteFile(path string, title []string, panels []Panel) error {
	b, err := Render(title, panels)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (d *svg) add(items ...any) { d.Items = append(d.Items, items...) }

// panel draws p with its title at y and returns the y below it.
func (d *svg) panel(y int, p Panel) int {
	d.add(label(margin, y+lineH/2, p.Title, ink, "", "bold"))
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
	px := func(v float64) int { return int(math.Round(v / maxV * barAreaW)) }
	bottom := top + len(p.Bars)*rowH
	d.add(rect{X: x0, Y: top - 4, W: barAreaW, H: bottom - top + 4, Fill: hex(area)})
	for _, b := range p.Bars {
		d.add(label(margin, y+barH/2, b.Label, ink, "", ""))
		if !math.IsNaN(b.Value) && b.Value > 0 {
			d.add(rect{X: x0, Y: y, W: px(math.Min(b.Value, maxV)), H: barH, Fill: hex(b.Color)})
		}
		d.add(label(x0+barAreaW+gap, y+barH/2, b.Text, ink, "", ""))
		y += rowH
	}
	d.add(line{X1: x0, Y1: top - 4, X2: x0, Y2: bottom, Stroke: hex(ink), Width: 2}) // axis
	if p.Goal > 0 {
		gx := x0 + px(p.Goal)
		d.add(line{X1: gx, Y1: top - 4, X2: gx, Y2: bottom, Stroke: hex(Red), Width: 2, Dash: "5 3"})
		half := len([]rune(p.GoalLabel)) * charW / 2
		lx := max(min(gx, x0+barAreaW-half), x0+half)
		d.add(label(lx, bottom+lineH/2+2, p.GoalLabel, Red, "middle", ""))
	}
	y += lineH
	d.add(rect{X: margin, Y: y + margin/2 - 1, W: width - 2*margin, H: 1, Fill: hex(faint)})
	return y + margin
}

// label is s at (x, y), y being the middle of the line.
func label(x, y int, s string, c color.RGBA, anchor, weight string) text {
	return text{X: x, Y: y, Fill: hex(c), Anchor: anchor, Weight: weight, Baseline: "central", Body: s}
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
