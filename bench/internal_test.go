package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

func TestPlotCDFDrawsBothSeries(t *testing.T) {
	img := plotCDF("TEST", []series{
		{name: "A", color: colorE2E, ds: []time.Duration{time.Millisecond, 3 * time.Millisecond}},
		{name: "B", color: colorCeiling, ds: []time.Duration{2 * time.Millisecond}},
	})
	require.Equal(t, plotW, img.Bounds().Dx())
	require.Equal(t, plotH, img.Bounds().Dy())
	seen := map[[4]uint8]int{}
	for i := 0; i < len(img.Pix); i += 4 {
		seen[[4]uint8(img.Pix[i:i+4])]++
	}
	require.Positive(t, seen[[4]uint8{colorE2E.R, colorE2E.G, colorE2E.B, colorE2E.A}])
	require.Positive(t, seen[[4]uint8{colorCeiling.R, colorCeiling.G, colorCeiling.B, colorCeiling.A}])
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
