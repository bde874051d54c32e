package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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
	colorFloor   = color.RGBA{0x2a, 0x9d, 0x3f, 0xff} // green
)

// The PNG is plotW×plotH pixels: plotDPI dots per inch over a canvas sized in points.
const (
	plotW, plotH = 960, 660
	plotDPI      = 96
)

// Text sizes in points; at 96 dpi they read at the size of a web page's text.
const (
	titleSize  = 16
	labelSize  = 14
	tickSize   = 12
	legendSize = 13
)

// maxLatencyTicks bounds the intervals between labels on the latency axis.
const maxLatencyTicks = 8

// plotFont is a sans-serif face from the fonts gonum/plot embeds (Liberation).
func plotFont(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: font.Length(size)}
}

// latencyPlot builds the cumulative distributions of ss: x is latency in ms (linear, from 0),
// y the share of orders done within it. A CDF shows the whole distribution, tails included,
// without the binning choices of a histogram.
func latencyPlot(title string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = plotFont(titleSize)
	p.Title.Padding = vg.Points(10)
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "% of orders done"
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = plotFont(labelSize)
		a.Tick.Label.Font = plotFont(tickSize)
		a.Min = 0
	}
	p.Y.Max = 100
	p.Y.Tick.Marker = plot.ConstantTicks(percentTicks())
	p.Add(plotter.NewGrid())

	// Every curve runs on to the end of the axis, so that one ending early reads as "all
	// done" rather than as missing data.
	var maxMs float64
	for _, s := range ss {
		if len(s.ds) > 0 {
			maxMs = max(maxMs, msOf(slices.Max(s.ds)))
		}
	}
	xTicks, xMax := latencyTicks(maxMs)
	p.X.Max = xMax
	p.X.Tick.Marker = plot.ConstantTicks(xTicks)
	// The legend sits at the bottom right, where a CDF's curves have already risen.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.TextStyle.Font = plotFont(legendSize)
	p.Legend.ThumbnailWidth = vg.Points(30)
	p.Legend.Padding = vg.Points(4)
	p.Legend.YOffs = vg.Points(16)
	p.Legend.XOffs = -vg.Points(16)
	for _, s := range ss {
		if len(s.ds) == 0 {
			continue
		}
		l, err := plotter.NewLine(cdfPoints(s.ds, p.X.Max))
		if err != nil {
			return nil, fmt.Errorf("bench: plot %s: %w", s.name, err)
		}
		l.StepStyle = plotter.PostStep
		l.LineStyle = draw.LineStyle{Color: s.color, Width: vg.Points(2)}
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return p, nil
}

// latencyTicks labels the latency axis every 1, 2 or 5 × 10^k ms, the finest such step that
// needs at most maxLatencyTicks intervals to pass maxMs, and ends the axis on the first label
// at or past maxMs. (gonum/plot's default ticker aims at three labels inside the data, too
// few to read a percentile off the curve.) It returns the ticks and the axis' end.
func latencyTicks(maxMs float64) ([]plot.Tick, float64) {
	maxMs = max(maxMs, 1)
	mag := math.Pow(10, math.Floor(math.Log10(maxMs)))
	step := 10 * mag
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5} {
		if math.Ceil(maxMs/(m*mag)) <= maxLatencyTicks {
			step = m * mag
			break
		}
	}
	end := math.Ceil(maxMs/step) * step
	var ts []plot.Tick
	for i := 0.0; i*step <= end+step/2; i++ {
		v := i * step
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ts, end
}

// cdfPoints are the corners of the step function through (latency_i, 100·i/n), from (0, 0)
// and on to (maxMs, 100).
func cdfPoints(ds []time.Duration, maxMs float64) plotter.XYs {
	sorted := slices.Sorted(slices.Values(ds))
	n := float64(len(sorted))
	pts := make(plotter.XYs, 0, len(sorted)+2)
	pts = append(pts, plotter.XY{})
	for i, d := range sorted {
		pts = append(pts, plotter.XY{X: msOf(d), Y: 100 * float64(i+1) / n})
	}
	return append(pts, plotter.XY{X: maxMs, Y: 100})
}

func percentTicks() []plot.Tick {
	var ts []plot.Tick
	for v := 0; v <= 100; v += 10 {
		t := plot.Tick{Value: float64(v)}
		if v%20 == 0 {
			t.Label = strconv.Itoa(v)
		}
		ts = append(ts, t)
	}
	return ts
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// plotPNG renders the latency plot as a plotW×plotH PNG.
func plotPNG(title string, ss []series) ([]byte, error) {
	p, err := latencyPlot(title, ss)
	if err != nil {
		return nil, err
	}
	c := vgimg.NewWith(vgimg.UseWH(pxToPoints(plotW), pxToPoints(plotH)), vgimg.UseDPI(plotDPI))
	// A margin round the plot, which gonum/plot otherwise draws edge to edge.
	m := vg.Points(12)
	p.Draw(draw.Crop(draw.New(c), m, -m, m, -m))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("bench: encode plot: %w", err)
	}
	return b.Bytes(), nil
}

func pxToPoints(px int) vg.Length { return vg.Length(px) * vg.Inch / plotDPI }
