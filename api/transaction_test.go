package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name       string
		id         string
		engineErr  error
		wantStatus int
		wantCalls  int
		wantError  string
	}{
		{name: "found", id: txID, wantStatus: 200, wantCalls: 1},
		{name: "unknown", id: "nope-1", engineErr: fmt.Errorf("%w: workflow not found", starter.ErrNotFound), wantStatus: 404, wantCalls: 1, wantError: "transaction nope-1 not found"},
		{name: "engine unavailable", id: txID, engineErr: starter.ErrUnavailable, wantStatus: 503, wantCalls: 1},
		{name: "bad characters", id: "bad$id", wantStatus: 400},
		{name: "space", id: "a%20b", wantStatus: 400},
		{name: "too long", id: strings.Repeat("a", 129), wantStatus: 400},
		{name: "longest allowed", id: strings.Repeat("a", 128), wantStatus: 200, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.eng.setErr(tc.engineErr)
			a.eng.setStatus(workflows.Status{TransactionID: tc.id, Stage: workflows.StageAwaitSchedule, Product: "Appraisal"})
			resp := a.do(t, http.MethodGet, "/v1/transactions/"+tc.id, nil, nil)
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.body)
			}
			if a.eng.calls() != tc.wantCalls {
				t.Fatalf("engine calls %d, want %d", a.eng.calls(), tc.wantCalls)
			}
			m := resp.json(t)
			if tc.wantStatus == 200 {
				var st workflows.Status
				if err := json.Unmarshal(resp.body, &st); err != nil {
					t.Fatal(err)
				}
				if st.Stage != workflows.StageAwaitSchedule || st.TransactionID != tc.id || a.eng.recorded().statusIDs[0] != tc.id {
					t.Errorf("status %+v for query of %q", st, a.eng.recorded().statusIDs[0])
				}
				return
			}
			if tc.wantError != "" && m["message"] != tc.wantError {
				t.Errorf("error = %v, want %q", m["message"], tc.wantError)
			}
			if tc.wantStatus == 503 && resp.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	path := "/v1/transactions/" + txID + "/schedule"
	tests := []struct {
		name       string
		body       string
		ctype      string
		engineErr  error
		wantStatus int
		wantPtrs   []string
		wantError  string
	}{
		{name: "happy", body: `{"inspectionAt":"2026-07-01T14:00:00-07:00","appraiser":"Scott Cooper","comments":"gate code 1234"}`, wantStatus: 200},
		{name: "missing inspectionAt", body: `{"appraiser":"Scott"}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt"}},
		{name: "null inspectionAt", body: `{"inspectionAt":null}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt"}},
		{name: "not RFC 3339", body: `{"inspectionAt":"July 1st"}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt"}},
		{name: "zero time", body: `{"inspectionAt":"0001-01-01T00:00:00Z"}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt"}},
		{name: "wrong type", body: `{"inspectionAt":20260701}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt"}},
		{name: "unknown field", body: `{"inspectionAt":"2026-07-01T14:00:00Z","when":"soon"}`, wantStatus: 400, wantPtrs: []string{"/when"}},
		{name: "every problem", body: `{"appraiser":5,"x/y":1}`, wantStatus: 400, wantPtrs: []string{"/inspectionAt", "/appraiser", "/x~1y"}},
		{name: "too long comment", body: `{"inspectionAt":"2026-07-01T14:00:00Z","comments":"` + strings.Repeat("c", 2001) + `"}`, wantStatus: 400, wantPtrs: []string{"/comments"}},
		{name: "invalid JSON", body: `{"inspectionAt":`, wantStatus: 400, wantPtrs: []string{""}},
		{name: "two JSON values", body: `{"inspectionAt":"2026-07-01T14:00:00Z"} {}`, wantStatus: 400, wantPtrs: []string{""}},
		{name: "array", body: `[]`, wantStatus: 400, wantPtrs: []string{""}},
		{name: "empty body", body: ``, wantStatus: 400, wantPtrs: []string{""}},
		{name: "not JSON content type", body: `inspectionAt=now`, ctype: "application/x-www-form-urlencoded", wantStatus: 415},
		{name: "too large", body: `{"comments":"` + strings.Repeat("c", 70<<10) + `"}`, wantStatus: 413},
		{name: "rejected by the workflow", body: `{"inspectionAt":"2026-07-01T14:00:00Z"}`,
			engineErr:  fmt.Errorf("%w: the inspection is already scheduled for 2026-07-01 14:00 UTC", starter.ErrRejected),
			wantStatus: 409, wantError: "the inspection is already scheduled for 2026-07-01 14:00 UTC"},
		{name: "unknown transaction", body: `{"inspectionAt":"2026-07-01T14:00:00Z"}`, engineErr: starter.ErrNotFound, wantStatus: 404},
		{name: "engine unavailable", body: `{"inspectionAt":"2026-07-01T14:00:00Z"}`, engineErr: starter.ErrUnavailable, wantStatus: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.eng.setErr(tc.engineErr)
			h := map[string]string{}
			if tc.ctype != "" {
				h["Content-Type"] = tc.ctype
			}
			resp := a.postJSON(t, path, tc.body, h)
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.body)
			}
			m := resp.json(t)
			switch {
			case tc.wantStatus == 200:
				want := workflows.ScheduleInput{
					InspectionAt: time.Date(2026, 7, 1, 21, 0, 0, 0, time.UTC),
					Appraiser:    "Scott Cooper", Comments: "gate code 1234",
				}
				got := a.eng.recorded().schedules[0]
				if got.id != txID || !got.in.InspectionAt.Equal(want.InspectionAt) || got.in.Appraiser != want.Appraiser || got.in.Comments != want.Comments {
					t.Errorf("engine got %+v, want %+v", got, want)
				}
				if m["stage"] != okResult.Stage || m["message"] != okResult.Message {
					t.Errorf("answer %s, want the ActionResult", resp.body)
				}
			case tc.wantStatus == 400:
				if a.eng.calls() != 0 {
					t.Error("engine called for an invalid request")
				}
				if m["message"] != "invalid request" {
					t.Errorf("error = %v", m["message"])
				}
				probs := resp.problems(t)
				for _, p := range tc.wantPtrs {
					if !hasPointer(probs, p) {
						t.Errorf("problems %+v lack %q", probs, p)
					}
				}
				if len(probs) != len(tc.wantPtrs) {
					t.Errorf("problems %v, want exactly %v", pointers(probs), tc.wantPtrs)
				}
			case tc.wantError != "":
				if m["message"] != tc.wantError {
					t.Errorf("error = %v, want %q", m["message"], tc.wantError)
				}
			}
		})
	}
}

func TestProgress(t *testing.T) {
	path := "/v1/transactions/" + txID + "/events"
	tests := []struct {
		name       string
		body       string
		engineErr  error
		wantStatus int
		wantPtrs   []string
	}{
		{name: "happy", body: `{"text":"Inspection completed","comments":"report within 48h"}`, wantStatus: 200},
		{name: "blank text", body: `{"text":"   "}`, wantStatus: 400, wantPtrs: []string{"/text"}},
		{name: "text too long", body: `{"text":"` + strings.Repeat("t", 201) + `"}`, wantStatus: 400, wantPtrs: []string{"/text"}},
		{name: "unknown field", body: `{"text":"x","type":"urn:x"}`, wantStatus: 400, wantPtrs: []string{"/type"}},
		{name: "transaction closed", body: `{"text":"x"}`, engineErr: fmt.Errorf("%w: transaction %s is closed (completed): no further actions", starter.ErrRejected, txID), wantStatus: 409},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.eng.setErr(tc.engineErr)
			resp := a.postJSON(t, path, tc.body, nil)
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.body)
			}
			switch tc.wantStatus {
			case 200:
				got := a.eng.recorded().progresses[0]
				if got.id != txID || got.in.Text != "Inspection completed" || got.in.Comments != "report within 48h" {
					t.Errorf("engine got %+v", got)
				}
			case 400:
				if got := pointers(resp.problems(t)); strings.Join(got, ",") != strings.Join(tc.wantPtrs, ",") {
					t.Errorf("pointers %v, want %v", got, tc.wantPtrs)
				}
			case 409:
				if m := resp.json(t); m["message"] != "transaction "+txID+" is closed (completed): no further actions" {
					t.Errorf("error = %v", m["message"])
				}
			}
		})
	}
}

var testPDF = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// form builds a multipart body; a field whose name starts with "@" is a file part.
func form(t *testing.T, fields ...[2]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if name, ok := strings.CutPrefix(f[0], "@"); ok {
			w, err := mw.CreateFormFile(name, "report.pdf")
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(f[1]))
			continue
		}
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestDeliver(t *testing.T) {
	path := "/v1/transactions/" + txID + "/deliver"
	pdf := string(testPDF)
	b64 := base64.StdEncoding.EncodeToString(testPDF)
	type req struct {
		multipart [][2]string
		json      string
	}
	tests := []struct {
		name       string
		req        req
		engineErr  error
		maxReport  int64
		wantStatus int
		wantPtrs   []string
		wantError  string
	}{
		{name: "multipart", req: req{multipart: [][2]string{{"appraisedValue", "500000"}, {"appraisalType", "Full"}, {"completedAt", "2026-07-02T10:00:00Z"}, {"comments", "no issues"}, {"@report", pdf}}}, wantStatus: 200},
		{name: "multipart, report first", req: req{multipart: [][2]string{{"@report", pdf}, {"appraisedValue", "500000"}, {"appraisalType", "Full"}, {"completedAt", "2026-07-02T10:00:00Z"}, {"comments", "no issues"}}}, wantStatus: 200},
		{name: "json", req: req{json: `{"reportBase64":"` + b64 + `","appraisedValue":500000,"appraisalType":"Full","completedAt":"2026-07-02T10:00:00Z","comments":"no issues"}`}, wantStatus: 200},

		{name: "multipart non-PDF", req: req{multipart: [][2]string{{"appraisedValue", "500000"}, {"@report", "GIF89a..."}}}, wantStatus: 400, wantPtrs: []string{"/report"}},
		{name: "multipart empty file", req: req{multipart: [][2]string{{"appraisedValue", "500000"}, {"@report", ""}}}, wantStatus: 400, wantPtrs: []string{"/report"}},
		{name: "multipart no report", req: req{multipart: [][2]string{{"appraisedValue", "500000"}}}, wantStatus: 400, wantPtrs: []string{"/report"}},
		{name: "multipart value 0", req: req{multipart: [][2]string{{"appraisedValue", "0"}, {"@report", pdf}}}, wantStatus: 400, wantPtrs: []string{"/appraisedValue"}},
		{name: "multipart value with cents", req: req{multipart: [][2]string{{"appraisedValue", "500000.50"}, {"@report", pdf}}}, wantStatus: 400, wantPtrs: []string{"/appraisedValue"}},
		{name: "multipart every problem", req: req{multipart: [][2]string{{"completedAt", "tomorrow"}, {"extra", "x"}, {"@report", "nope"}}}, wantStatus: 400,
			wantPtrs: []string{"/appraisedValue", "/completedAt", "/extra", "/report"}},
		{name: "multipart report too large", maxReport: 32, req: req{multipart: [][2]string{{"appraisedValue", "1"}, {"@report", pdf}}}, wantStatus: 413},

		{name: "json value 0", req: req{json: `{"reportBase64":"` + b64 + `","appraisedValue":0}`}, wantStatus: 400, wantPtrs: []string{"/appraisedValue"}},
		{name: "json value as string", req: req{json: `{"reportBase64":"` + b64 + `","appraisedValue":"500000"}`}, wantStatus: 400, wantPtrs: []string{"/appraisedValue"}},
		{name: "json non-PDF", req: req{json: `{"reportBase64":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `","appraisedValue":1}`}, wantStatus: 400, wantPtrs: []string{"/reportBase64"}},
		{name: "json bad base64", req: req{json: `{"reportBase64":"%%%","appraisedValue":1}`}, wantStatus: 400, wantPtrs: []string{"/reportBase64"}},
		{name: "json missing everything", req: req{json: `{"report":"x"}`}, wantStatus: 400, wantPtrs: []string{"/appraisedValue", "/report", "/reportBase64"}},
		{name: "json report too large", maxReport: 32, req: req{json: `{"reportBase64":"` + b64 + `","appraisedValue":1}`}, wantStatus: 413},

		{name: "rejected", req: req{json: `{"reportBase64":"` + b64 + `","appraisedValue":1}`}, engineErr: fmt.Errorf("%w: schedule the inspection before delivering the report", starter.ErrRejected),
			wantStatus: 409, wantError: "schedule the inspection before delivering the report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t, func(c *Config) { c.MaxReportBytes = tc.maxReport })
			a.eng.setErr(tc.engineErr)
			var resp response
			if tc.req.multipart != nil {
				body, ctype := form(t, tc.req.multipart...)
				resp = a.do(t, http.MethodPost, path, body, map[string]string{"Content-Type": ctype})
			} else {
				resp = a.postJSON(t, path, tc.req.json, nil)
			}
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.body)
			}
			m := resp.json(t)
			switch tc.wantStatus {
			case 200:
				sum := sha256.Sum256(testPDF)
				got := a.eng.recorded().delivers[0]
				if got.id != txID {
					t.Errorf("delivered to %q", got.id)
				}
				r := got.in.Report
				if r.SHA256 != hex.EncodeToString(sum[:]) || r.Size != int64(len(testPDF)) || r.Name != "AppraisalReport.pdf" || r.MimeType != "application/pdf" {
					t.Errorf("report reference %+v", r)
				}
				if _, err := a.blobs.Stat(t.Context(), r.SHA256); err != nil {
					t.Errorf("the report is not in the blob store: %v", err)
				}
				f, err := a.blobs.Open(t.Context(), r.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				stored, _ := io.ReadAll(f)
				f.Close()
				if !bytes.Equal(stored, testPDF) {
					t.Error("stored bytes differ from the upload")
				}
				in := got.in
				if in.AppraisedValue != 500000 || in.AppraisalType != "Full" || in.Comments != "no issues" || !in.CompletedAt.Equal(time.Date(2026, 7, 2, 10, 0, 0, 0, time.UTC)) {
					t.Errorf("deliver input %+v", in)
				}
				if m["stage"] != okResult.Stage {
					t.Errorf("answer %s", resp.body)
				}
			case 400:
				if len(a.eng.recorded().delivers) != 0 {
					t.Error("engine called for an invalid delivery")
				}
				if got := pointers(resp.problems(t)); strings.Join(got, ",") != strings.Join(tc.wantPtrs, ",") {
					t.Errorf("pointers %v, want %v (%s)", got, tc.wantPtrs, resp.body)
				}
			case 413:
				if len(a.eng.recorded().delivers) != 0 {
					t.Error("engine called for an oversized delivery")
				}
			case 409:
				if m["message"] != tc.wantError {
					t.Errorf("error = %v, want %q", m["message"], tc.wantError)
				}
			}
		})
	}
}

func TestDeliverFormQuirks(t *testing.T) {
	path := "/v1/transactions/" + txID + "/deliver"
	a := newTestAPI(t)
	resp := a.do(t, http.MethodPost, path, strings.NewReader("%PDF-1.7"), map[string]string{"Content-Type": "application/pdf"})
	if resp.status != http.StatusUnsupportedMediaType {
		t.Errorf("raw PDF body: status %d, want 415", resp.status)
	}
	body, ctype := form(t, [2]string{"appraisedValue", "1"}, [2]string{"appraisedValue", "2"}, [2]string{"@report", string(testPDF)})
	resp = a.do(t, http.MethodPost, path, body, map[string]string{"Content-Type": ctype})
	if got := pointers(resp.problems(t)); resp.status != 400 || strings.Join(got, ",") != "/appraisedValue" {
		t.Errorf("duplicate field: %d %v", resp.status, got)
	}
	resp = a.do(t, http.MethodPost, path, strings.NewReader("garbage"), map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"})
	if resp.status != 400 {
		t.Errorf("malformed multipart: status %d, want 400", resp.status)
	}
	if len(a.eng.recorded().delivers) != 0 {
		t.Error("engine called")
	}
}
