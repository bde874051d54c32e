package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
	"time"
)

// series is one latency distribution on the plot.
type series struct {
	name  string
	color color.RGBA
	ds    []time.Duration
}

var (
	colorE2E     = color.RGBA{0x1f, 0x5f, 0xbf, 0xff} // blue
	colorCeiling = color.RGBA{0xe0, 0x6c, 0x00, 0xff} // orange
	colorAxis    = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colorGrid    = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
)

// Plot geometry, in pixels.
const (
	plotW, plotH = 960, 660
	plotLeft     = 90
	plotRight    = plotW - 30
	plotTop      = 70
	plotBottom   = plotH - 150
	plotWidthPx  = plotRight - plotLeft
	plotHeightPx = plotBottom - plotTop

	textScale    = 2
	lineHeight   = (glyphH + 3) * textScale
	tickLen      = 6
	tickLabelGap = 8
	xLabelGap    = 40
	titleTop     = 20

	legendSwatch  = 28
	legendPadding = 10
	legendRowGap  = 6

	minTicks, maxTicks = 4, 10
	yTickStep          = 20 // percent
)

// plotCDF draws the cumulative distributions of ss: x is latency in ms (linear, from 0), y the
// share of orders done within it. A CDF shows the whole distribution, tails included, without
// the binning choices of a histogram.
func plotCDF(title string, ss []series) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, plotW, plotH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	var maxD time.Duration
	for _, s := range ss {
		if n := len(s.ds); n > 0 {
			maxD = max(maxD, slices.Max(s.ds))
		}
	}
	maxMs := max(float64(maxD)/float64(time.Millisecond), 1)
	step := niceStep(maxMs)
	xMax := math.Ceil(maxMs/step) * step
	xOf := func(msv float64) int { return plotLeft + int(math.Round(msv/xMax*plotWidthPx)) }
	yOf := func(frac float64) int { return plotBottom - int(math.Round(frac*plotHeightPx)) }

	// Grid and ticks.
	for v := 0.0; v <= xMax+step/2; v += step {
		x := xOf(v)
		vline(img, x, plotTop, plotBottom, colorGrid)
		vline(img, x, plotBottom, plotBottom+tickLen, colorAxis)
		label := trimFloat(v)
		drawText(img, x-textWidth(label, textScale)/2, plotBottom+tickLen+tickLabelGap, label, textScale, colorAxis)
	}
	for p := 0; p <= 100; p += yTickStep {
		y := yOf(float64(p) / 100)
		hline(img, plotLeft, plotRight, y, colorGrid)
		hline(img, plotLeft-tickLen, plotLeft, y, colorAxis)
		label := fmt.Sprint(p)
		drawText(img, plotLeft-tickLen-tickLabelGap-textWidth(label, textScale), y-glyphH*textScale/2, label, textScale, colorAxis)
	}
	// Axes.
	hline(img, plotLeft, plotRight, plotBottom, colorAxis)
	vline(img, plotLeft, plotTop, plotBottom, colorAxis)

	// Series: a step line through (latency_i, i/n).
	for _, s := range ss {
		n := len(s.ds)
		if n == 0 {
			continue
		}
		ds := slices.Sorted(slices.Values(s.ds))
		px, py := xOf(0), yOf(0)
		for i, d := range ds {
			x := xOf(float64(d) / float64(time.Millisecond))
			y := yOf(float64(i+1) / float64(n))
			thickLine(img, px, py, x, py, s.color)
			thickLine(img, x, py, x, y, s.color)
			px, py = x, y
		}
		thickLine(img, px, py, plotRight, py, s.color)
	}

	// Title and axis labels.
	drawText(img, (plotW-textWidth(title, textScale))/2, titleTop, title, textScale, colorAxis)
	xl := "LATENCY (MS)"
	drawText(img, plotLeft+(plotWidthPx-textWidth(xl, textScale))/2, plotBottom+xLabelGap, xl, textScale, colorAxis)
	yl := "% OF ORDERS DONE"
	drawText(img, plotLeft, plotTop-lineHeight, yl, textScale, colorAxis)

	// Legend under the axis label, outside the plot, so it never hides a curve.
	ly := plotBottom + xLabelGap + lineHeight + legendPadding
	for _, s := range ss {
		y := ly + (lineHeight-glyphH*textScale)/2
		fill(img, image.Rect(plotLeft, ly+lineHeight/2-2, plotLeft+legendSwatch, ly+lineHeight/2+2), s.color)
		drawText(img, plotLeft+legendSwatch+legendPadding, y, s.name, textScale, colorAxis)
		ly += lineHeight + legendRowGap
	}
	return img
}

// niceStep picks a 1-2-5 tick step giving between minTicks and maxTicks ticks up to maxV.
func niceStep(maxV float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(maxV)))
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10} {
		step := m * mag
		if n := math.Ceil(maxV / step); n <= maxTicks && n >= minTicks {
			return step
		}
	}
	return mag
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// thickLine draws a 2-pixel line (Bresenham, doubled) from (x0, y0) to (x1, y1).
func thickLine(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0+1, y0, c)
		img.Set(x0, y0-1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
