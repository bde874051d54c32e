package bench

import (
	"bytes"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/epcflow/epcflow/epc"
)

func TestSummarize(t *testing.T) {
	upTo := func(n int) []time.Duration {
		var ds []time.Duration
		for i := n; i >= 1; i-- { // unsorted on purpose
			ds = append(ds, time.Duration(i)*time.Millisecond)
		}
		return ds
	}
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", []time.Duration{1500 * time.Microsecond}, Latency{Count: 1, P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5, Mean: 1.5}},
		{"1 to 100 ms", upTo(100), Latency{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}},
		{"1 to 10 ms", upTo(10), Latency{Count: 10, P50: 5, P90: 9, P99: 10, Max: 10, Mean: 5.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, summarize(tc.ds))
		})
	}
}

// TestSinkCapturesThenForwards: captured webhooks are kept by transaction and answered 200;
// once forwarding, the API gets the same signed bytes and its answer goes back to the sandbox.
func TestSinkCapturesThenForwards(t *testing.T) {
	var got struct {
		body []byte
		sig  string
	}
	apiStatus := http.StatusAccepted
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.body, _ = io.ReadAll(r.Body)
		got.sig = r.Header.Get("Elli-Signature")
		w.WriteHeader(apiStatus)
	}))
	defer api.Close()
	s := newSink(api.Client())
	srv := httptest.NewServer(s)
	defer srv.Close()

	body := []byte(`{"eventId":"e1","eventTime":"2026-01-02T03:04:05Z","eventType":"created",` +
		`"meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"tx-1","instanceId":"i","resourceRef":"/partner/v2/transactions/tx-1"}}`)
	post := func() int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/epc", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Elli-Signature", epc.Sign("k", body))
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	require.Equal(t, http.StatusOK, post())
	hs := s.take("tx-1")
	require.Len(t, hs, 1)
	require.True(t, isCreated(hs[0]))
	require.Equal(t, body, hs[0].body)
	require.Equal(t, epc.Sign("k", body), hs[0].header.Get("Elli-Signature"))
	require.Empty(t, s.take("tx-1"), "taken once")
	require.Nil(t, got.body, "nothing reached the API while capturing")

	var relayed samples
	s.forward(api.URL, relayed.add)
	require.Equal(t, http.StatusAccepted, post())
	require.Equal(t, body, got.body)
	require.Equal(t, epc.Sign("k", body), got.sig)
	require.Len(t, relayed.snapshot(), 1)
	apiStatus = http.StatusServiceUnavailable
	require.Equal(t, http.StatusServiceUnavailable, post(), "the sandbox must see the API's 503 to retry")
	require.NoError(t, s.err())
}

func TestLatencyPlot(t *testing.T) {
	var e2e, ceiling []time.Duration
	for i := range 200 {
		e2e = append(e2e, time.Duration(400+3*i)*time.Millisecond)
		ceiling = append(ceiling, time.Duration(50+i/2)*time.Millisecond)
	}
	ss := []series{
		{name: "end to end, flood order (p50 700 ms)", color: colorE2E, ds: e2e},
		{name: "ceiling, 8 no-op activities (p50 100 ms)", color: colorCeiling, ds: ceiling},
	}
	raw, err := plotPNG("Latency CDF, 200 orders at 50 orders/s", ss)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, plotW, plotH), img.Bounds())
	for _, s := range ss {
		require.Greater(t, pixelsNear(img, s.color), 500, "the curve of %q is drawn", s.name)
	}

	// The words a reader needs, read from the same plot drawn as SVG, where text stays text.
	p, err := latencyPlot("Latency CDF, 200 orders at 50 orders/s", ss)
	require.NoError(t, err)
	c := vgsvg.New(pxToPoints(plotW), pxToPoints(plotH))
	p.Draw(draw.New(c))
	var svg bytes.Buffer
	_, err = c.WriteTo(&svg)
	require.NoError(t, err)
	var texts []string
	for _, m := range regexp.MustCompile(`>([^<>]*)</text>`).FindAllStringSubmatch(svg.String(), -1) {
		texts = append(texts, html.UnescapeString(m[1]))
	}
	require.Subset(t, texts, []string{
		"Latency CDF, 200 orders at 50 orders/s", "latency (ms)", "% of orders done",
		"end to end, flood order (p50 700 ms)", "ceiling, 8 no-op activities (p50 100 ms)",
		"0", "20", "100", // percent
		"200", "800", "1000", // latency: the axis goes past the slowest order (997 ms) to a labelled tick
	})
}

func TestLatencyTicksEndOnALabelPastTheSlowest(t *testing.T) {
	for _, tc := range []struct {
		maxMs, step, end float64
	}{
		{0, 0.2, 1}, {997, 200, 1000}, {1000, 200, 1000}, {10100, 2000, 12000}, {13800, 2000, 14000}, {41000, 10000, 50000},
	} {
		ticks, end := latencyTicks(tc.maxMs)
		require.Equal(t, tc.end, end, "max %v ms", tc.maxMs)
		require.InDelta(t, tc.step, ticks[1].Value-ticks[0].Value, 1e-9, "max %v ms", tc.maxMs)
		require.InDelta(t, end, ticks[len(ticks)-1].Value, 1e-9, "max %v ms", tc.maxMs)
		require.LessOrEqual(t, len(ticks)-1, maxLatencyTicks)
	}
}

func TestCDFPointsStepFromZeroToTheLongestLatency(t *testing.T) {
	got := cdfPoints([]time.Duration{3 * time.Millisecond, time.Millisecond}, 10)
	require.Equal(t, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 50}, {X: 3, Y: 100}, {X: 10, Y: 100}}, got)
}

// pixelsNear counts the pixels within a small distance of c (anti-aliasing blends a line's edges).
func pixelsNear(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool {
	d := int(v>>8) - int(want)
	return d > -24 && d < 24
}

func TestReadMemoryAndCPUOfThisProcess(t *testing.T) {
	m, err := readMemory(os.Getpid(), "test")
	require.NoError(t, err)
	require.Positive(t, m.RSSBytes)
	require.GreaterOrEqual(t, m.PeakRSSBytes, m.RSSBytes)
	_, err = processCPU(os.Getpid())
	require.NoError(t, err)
	_, err = readMemory(-1, "nobody")
	require.Error(t, err)
}
