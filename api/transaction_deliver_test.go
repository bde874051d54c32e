package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/internal/slowloris"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// bigPDF is a report of n bytes.
func bigPDF(n int) []byte {
	b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
	copy(b, "%PDF-1.7\n")
	return b
}

// storeDir gives the API a directory store the test can look into.
func storeDir(t *testing.T) (string, func(*Config)) {
	dir := t.TempDir()
	s, err := blobs.NewStore(dir)
	require.NoError(t, err)
	return dir, func(c *Config) { c.Blobs = s }
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Empty(t, names, "the blob store holds files")
}

// TestDeliverToAnOrderThatCannotTakeItStoresNothing: three 20 MB reports to unknown ids,
// and one to a finished order, are refused before their bodies are read: nothing reaches
// the blob store, not even a spool file.
func TestDeliverToAnOrderThatCannotTakeItStoresNothing(t *testing.T) {
	dir, withStore := storeDir(t)
	a := newTestAPI(t, withStore)
	pdf := bigPDF(20 << 20)
	multipartBody := func() (io.Reader, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("appraisedValue", "500000"))
		w, err := mw.CreateFormFile("report", "report.pdf")
		require.NoError(t, err)
		_, err = w.Write(pdf)
		require.NoError(t, err)
		require.NoError(t, mw.Close())
		return &buf, mw.FormDataContentType()
	}
	jsonBody := `{"appraisedValue":500000,"reportBase64":"` + base64.StdEncoding.EncodeToString(pdf) + `"}`

	a.eng.setErr(fmt.Errorf("%w: no workflow", starter.ErrNotFound))
	for i, id := range []string{"unknown-1", "unknown-2", "unknown-3"} {
		path := "/v1/transactions/" + id + "/deliver"
		var resp response
		if i%2 == 0 {
			body, ctype := multipartBody()
			resp = a.do(t, http.MethodPost, path, body, map[string]string{"Content-Type": ctype})
		} else {
			resp = a.postJSON(t, path, jsonBody, nil)
		}
		require.Equal(t, http.StatusNotFound, resp.status, "%s: %s", id, resp.body)
		require.Equal(t, CodeNotFound, resp.errorBody(t).Code)
	}
	a.eng.setErr(nil)
	a.eng.setStatus(workflows.Status{TransactionID: txID, RequestType: workflows.TypeAppraisal, Stage: workflows.StageCanceled, Closed: true})
	resp := a.postJSON(t, "/v1/transactions/"+txID+"/deliver", jsonBody, nil)
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)
	require.Equal(t, "transaction "+txID+" is closed (canceled): no further actions", resp.errorBody(t).Message)

	require.Empty(t, a.eng.recorded().delivers, "no delivery reached the workflow")
	requireEmptyDir(t, dir)
}

// TestDeliverRefusalsFollowTheWorkflow: the stage check answers as the workflow's validator
// would, before the body is read.
func TestDeliverRefusalsFollowTheWorkflow(t *testing.T) {
	sched := &workflows.ScheduleInput{InspectionAt: time.Now()}
	tests := []struct {
		st   workflows.Status
		want string
	}{
		{workflows.Status{Stage: workflows.StageGathering}, `cannot deliver the report yet: the order is still at stage "gathering-data"`},
		{workflows.Status{RequestType: "FloodCertification", Stage: workflows.StageWorking}, "cannot deliver the report: this is a FloodCertification order, not an Appraisal"},
		{workflows.Status{RequestType: workflows.TypeAppraisal, Stage: workflows.StageAwaitSchedule}, "schedule the inspection before delivering the report"},
		{workflows.Status{RequestType: workflows.TypeAppraisal, Stage: workflows.StageUploading, Inspection: sched, Report: &workflows.DeliverInput{}}, "the report was already delivered"},
		{workflows.Status{RequestType: workflows.TypeAppraisal, Stage: workflows.StageCompleted, Closed: true}, "transaction " + txID + " is closed (completed): no further actions"},
	}
	for _, tt := range tests {
		dir, withStore := storeDir(t)
		a := newTestAPI(t, withStore)
		a.eng.setStatus(tt.st)
		body, ctype := form(t, [2]string{"appraisedValue", "1"}, [2]string{"@report", string(testPDF)})
		resp := a.do(t, http.MethodPost, "/v1/transactions/"+txID+"/deliver", body, map[string]string{"Content-Type": ctype})
		require.Equal(t, http.StatusConflict, resp.status, "%+v: %s", tt.st, resp.body)
		require.Equal(t, tt.want, resp.errorBody(t).Message)
		requireEmptyDir(t, dir)
	}
}

// TestDeliveredReportIsKept: a report the workflow took is marked kept, so the sweeper never
// removes it; one the workflow refused is not, and goes once old.
func TestDeliveredReportIsKept(t *testing.T) {
	a := newTestAPI(t)
	body, ctype := form(t, [2]string{"appraisedValue", "1"}, [2]string{"@report", string(testPDF)})
	resp := a.do(t, http.MethodPost, "/v1/transactions/"+txID+"/deliver", body, map[string]string{"Content-Type": ctype})
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)

	refused := append(bytes.Clone(testPDF), "refused"...)
	a.eng.mu.Lock()
	a.eng.deliverErr = fmt.Errorf("%w: transaction %s is closed (canceled by the lender): no further actions", starter.ErrRejected, txID)
	a.eng.mu.Unlock()
	body, ctype = form(t, [2]string{"appraisedValue", "1"}, [2]string{"@report", string(refused)})
	resp = a.do(t, http.MethodPost, "/v1/transactions/"+txID+"/deliver", body, map[string]string{"Content-Type": ctype})
	require.Equal(t, http.StatusConflict, resp.status, "%s", resp.body)

	r, err := blobs.Sweep(t.Context(), a.blobs, 0, time.Now().Add(48*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, r.Kept)
	require.Equal(t, 1, r.Removed, "the refused report is swept")
	_, err = a.blobs.Stat(t.Context(), a.eng.recorded().delivers[0].in.Report.SHA256)
	require.NoError(t, err, "the delivered report stays")
}

// endlessReport is a JSON delivery whose base64 report never ends; it counts what was read.
type endlessReport struct {
	head []byte
	read int64
}

func (r *endlessReport) Read(p []byte) (int, error) {
	n := 0
	if len(r.head) > 0 {
		n = copy(p, r.head)
		r.head = r.head[n:]
	}
	for ; n < len(p); n++ {
		p[n] = 'A'
	}
	r.read += int64(n)
	return n, nil
}

// TestDeliverJSONIsReadUnderTheLimit: a JSON delivery without a Content-Length whose report
// goes on for ever is answered 413 after at most the limit's base64 size (plus the other
// members' budget and a read buffer) has been read, and nothing is stored.
func TestDeliverJSONIsReadUnderTheLimit(t *testing.T) {
	const limit = 1 << 20
	dir, withStore := storeDir(t)
	h := directAPI(t, &fakeEngine{status: awaitingReport}, withStore, func(c *Config) { c.MaxReportBytes = limit })
	body := &endlessReport{head: []byte(`{"appraisedValue":1,"reportBase64":"JVBERi0x`)}
	req := httptest.NewRequest(http.MethodPost, "/v1/transactions/"+txID+"/deliver", body)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Equal(t, CodeBodyTooLarge, decodeErrorBody(t, rec.Code, rec.Body.Bytes()).Code)
	bound := int64(base64.StdEncoding.EncodedLen(limit)) + maxJSONBytes + 64<<10
	require.LessOrEqual(t, body.read, bound, "read %d bytes of a body whose limit is %d", body.read, limit)
	requireEmptyDir(t, dir)
}

// TestDeliverJSONMemoryIsBounded: a JSON delivery of a 20 MB report (27 MB of base64) is
// stored while the API allocates a small fraction of it: the report is decoded as it arrives,
// never held whole. Today's figures are in BenchmarkDeliverJSON.
func TestDeliverJSONMemoryIsBounded(t *testing.T) {
	pdf := bigPDF(20 << 20)
	body := []byte(`{"appraisedValue":500000,"reportBase64":"` + base64.StdEncoding.EncodeToString(pdf) + `","comments":"after the report"}`)
	h := directAPI(t, &fakeEngine{status: awaitingReport})
	allocated := deliverAllocs(t, h, body)
	t.Logf("a delivery of %d bytes of JSON allocated %d bytes", len(body), allocated)
	require.Less(t, allocated, uint64(4<<20), "a delivery of %d bytes of JSON allocated %d bytes", len(body), allocated)
}

// deliverAllocs posts body to the deliver route in process and returns the bytes allocated
// meanwhile.
func deliverAllocs(tb testing.TB, h http.Handler, body []byte) uint64 {
	req := httptest.NewRequest(http.MethodPost, "/v1/transactions/"+txID+"/deliver", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h.ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return after.TotalAlloc - before.TotalAlloc
}

// BenchmarkDeliverJSON delivers an 8 MB report as JSON: B/op is what the API allocates for
// it (before streaming: about five times the body).
func BenchmarkDeliverJSON(b *testing.B) {
	body := []byte(`{"appraisedValue":500000,"reportBase64":"` + base64.StdEncoding.EncodeToString(bigPDF(8<<20)) + `"}`)
	h := directAPI(b, &fakeEngine{status: awaitingReport})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/transactions/"+txID+"/deliver", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// TestDeliverHasALongerReadBudget: under a server read timeout of 300 ms, an operator's
// delivery that takes a second to arrive is taken (the route extends its own deadline), and
// the same pace on another operator route is cut off with 408.
func TestDeliverHasALongerReadBudget(t *testing.T) {
	srv := httptest.NewUnstartedServer(directAPI(t, &fakeEngine{status: awaitingReport}))
	srv.Config.ReadTimeout, srv.Config.ReadHeaderTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	header := []string{"Authorization: Bearer t", "Content-Type: application/json"}

	deliver := []byte(`{"appraisedValue":1,"reportBase64":"` + base64.StdEncoding.EncodeToString(testPDF) + `"}`)
	res, err := slowloris.Trickle(slowloris.Request{Addr: addr, Path: "/v1/transactions/" + txID + "/deliver", Header: header,
		Body: deliver, Interval: time.Second / time.Duration(len(deliver))}, nil)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(res.Answer, "HTTP/1.1 200"), "the slow delivery: %q", res.Answer)

	schedule := []byte(`{"inspectionAt":"2026-07-01T14:00:00Z","comments":"` + strings.Repeat("x", 40) + `"}`)
	res, err = slowloris.Trickle(slowloris.Request{Addr: addr, Path: "/v1/transactions/" + txID + "/schedule", Header: header,
		Body: schedule, Interval: time.Second / time.Duration(len(schedule))}, nil)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(res.Answer, "HTTP/1.1 408"), "the slow schedule: %q", res.Answer)
	require.Contains(t, res.Answer, `"code":"request_timeout"`)
}

// TestDeliverLimitBoundary: a report of exactly MaxReportBytes is taken in either form, one
// byte more is 413 with the one error body, and the members other than the report are held
// to their own budget.
func TestDeliverLimitBoundary(t *testing.T) {
	const limit = 1000
	report := bigPDF(limit + 1)
	for _, n := range []int{limit, limit + 1} {
		want := http.StatusOK
		if n > limit {
			want = http.StatusRequestEntityTooLarge
		}
		a := newTestAPI(t, func(c *Config) { c.MaxReportBytes = limit })
		body, ctype := form(t, [2]string{"appraisedValue", "1"}, [2]string{"@report", string(report[:n])})
		resp := a.do(t, http.MethodPost, "/v1/transactions/"+txID+"/deliver", body, map[string]string{"Content-Type": ctype})
		require.Equal(t, want, resp.status, "multipart, %d bytes: %s", n, resp.body)
		resp = a.postJSON(t, "/v1/transactions/"+txID+"/deliver", `{"appraisedValue":1,"reportBase64":"`+base64.StdEncoding.EncodeToString(report[:n])+`"}`, nil)
		require.Equal(t, want, resp.status, "json, %d bytes: %s", n, resp.body)
		if want != http.StatusOK {
			require.Equal(t, CodeBodyTooLarge, resp.errorBody(t).Code)
		}
	}
	a := newTestAPI(t)
	resp := a.postJSON(t, "/v1/transactions/"+txID+"/deliver", `{"appraisedValue":1,"comments":"`+strings.Repeat("x", maxJSONBytes)+`","reportBase64":"`+base64.StdEncoding.EncodeToString(testPDF)+`"}`, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, "%s", resp.body)
	require.Contains(t, resp.errorBody(t).Message, "the members other than reportBase64 are limited to")
	require.Empty(t, a.eng.recorded().delivers)
}
