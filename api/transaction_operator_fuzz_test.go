package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/workflows"
)

// The operator endpoints under fuzzing. Whatever is posted to them, the answer is one of
// 200, 400, 413 or 415 (never a 5xx, nor a panic, which recovery would turn into a 500); a
// 400 names each problem (JSON pointer and message); and the engine gets an action exactly
// when the answer is 200, an action the workflow's validators would not refuse as malformed.
// The seed corpora run with every `go test ./api/`; `scripts/fuzz` explores.

const fuzzReportLimit = 4 << 10 // small, so that the fuzzer reaches the 413 paths

const fuzzTxPath = "/v1/transactions/" + txID

// actionEngine takes every operator action and checks it as the workflow's update validators
// would (text limits in characters, as the API promises them). It keeps only the last call: a fuzzing run sends millions of bodies, and each call
// runs in the goroutine that served the request.
type actionEngine struct {
	fakeEngine // Status: an order awaiting its report (deliver asks first); DeliverWebhook: not reached
	calls      int
	invalid    string // why the last action should have been refused with 400
}

func (e *actionEngine) took(in any, problems ...string) {
	e.calls++
	e.invalid = ""
	if _, err := json.Marshal(in); err != nil { // the Temporal payload converter would fail
		problems = append(problems, "does not encode: "+err.Error())
	}
	for _, p := range problems {
		if p != "" {
			e.invalid = fmt.Sprintf("%s in %+v", p, in)
			return
		}
	}
}

func (e *actionEngine) Schedule(_ context.Context, _ string, in workflows.ScheduleInput) (workflows.ActionResult, error) {
	e.took(in, when(in.InspectionAt.IsZero(), "zero inspectionAt"),
		text("appraiser", in.Appraiser, false, maxNameLen), text("comments", in.Comments, false, maxCommentsLen))
	return okResult, nil
}

func (e *actionEngine) Progress(_ context.Context, _ string, in workflows.ProgressInput) (workflows.ActionResult, error) {
	e.took(in, text("text", in.Text, true, maxTextLen), text("comments", in.Comments, false, maxCommentsLen))
	return okResult, nil
}

func (e *actionEngine) Deliver(_ context.Context, _ string, in workflows.DeliverInput) (workflows.ActionResult, error) {
	r := in.Report
	e.took(in, when(!blobs.ValidSHA256(r.SHA256), "report sha256"), when(r.MimeType != "application/pdf", "report mime type"),
		when(r.Size < int64(len(pdfMagic)) || r.Size > fuzzReportLimit, "report size"),
		when(in.AppraisedValue <= 0, "appraisedValue"),
		text("appraisalType", in.AppraisalType, false, maxNameLen), text("comments", in.Comments, false, maxCommentsLen))
	return okResult, nil
}

func when(bad bool, what string) string {
	if bad {
		return what
	}
	return ""
}

// text is the API's promise on a text field: valid UTF-8, at most max characters, not blank
// when required.
func text(name, s string, required bool, max int) string {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || required && strings.TrimSpace(s) == "" {
		return name
	}
	return ""
}

// operatorCall posts body to path with the operator token and checks the answer.
func operatorCall(t *testing.T, h http.Handler, eng *actionEngine, path, ctype string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	before := eng.calls
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	called := eng.calls != before

	switch rec.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		t.Fatalf("status %d for %s (Content-Type %q, body %q): %s", rec.Code, path, ctype, body, rec.Body)
	}
	if called != (rec.Code == http.StatusOK) {
		t.Fatalf("status %d but engine called = %v (body %q): %s", rec.Code, called, body, rec.Body)
	}
	if called && eng.invalid != "" {
		t.Fatalf("accepted an action the workflow would refuse: %s (body %q)", eng.invalid, body)
	}
	if rec.Code < 400 {
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: answer is not JSON: %q", rec.Code, rec.Body)
		}
		return rec
	}
	answer := decodeErrorBody(t, rec.Code, rec.Body.Bytes())
	if rec.Code == http.StatusBadRequest {
		checkProblems(t, answer)
	}
	return rec
}

// checkProblems: a 400 lists every problem with a pointer and a message. Only a multipart
// body that cannot be read as a form at all has no field to point at.
func checkProblems(t *testing.T, answer ErrorBody) {
	t.Helper()
	if len(answer.Problems) == 0 && !strings.HasPrefix(answer.Message, "malformed multipart/form-data body") {
		t.Fatalf("400 without problems: %+v", answer)
	}
	for _, p := range answer.Problems {
		if p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/") || strings.TrimSpace(p.Message) == "" {
			t.Fatalf("malformed problem %+v in %+v", p, answer)
		}
	}
}

var operatorActions = []string{"/schedule", "/events", "/deliver"}

// FuzzOperatorJSON posts arbitrary bytes under arbitrary content types to the three JSON
// operator endpoints (action selects one: schedule, events, deliver with reportBase64).
func FuzzOperatorJSON(f *testing.F) {
	b64 := base64.StdEncoding.EncodeToString(testPDF)
	seeds := []struct {
		action uint8
		body   string
	}{
		{0, `{"inspectionAt":"2026-07-01T14:00:00-07:00","appraiser":"Scott Cooper","comments":"gate code 1234"}`},
		{0, `{"inspectionAt":"0001-01-01T00:00:00Z"}`},
		{0, `{"inspectionAt":"0000-12-31T23:00:00-01:00"}`},
		{0, `{"inspectionAt":"9999-12-31T23:59:59.999999999-14:00"}`},
		{0, `{"inspectionAt":"2026-02-30T14:00:00Z"}`},
		{0, `{"inspectionAt":"2026-07-01T14:00:00Z","inspectionAt":null}`},
		{0, `{"appraiser":5,"x/y":1,"~":2}`},
		{1, `{"text":"Inspection scheduled","comments":"call first"}`},
		{1, `{"text":"` + strings.Repeat("é", 200) + `"}`},
		{1, `{"text":"\ud800","comments":"\u0000"}`},
		{1, "{\"text\":\"\xff\"}"},
		{1, `{"text":"   "}`},
		{2, `{"reportBase64":"` + b64 + `","appraisedValue":500000,"appraisalType":"Full","completedAt":"2026-07-02T10:00:00Z","comments":"no issues"}`},
		{2, `{"reportBase64":"` + b64 + `","appraisedValue":9223372036854775808}`},
		{2, `{"reportBase64":"` + b64 + `","appraisedValue":1e3}`},
		{2, `{"reportBase64":"` + b64 + `","appraisedValue":-0}`},
		{2, `{"reportBase64":"` + strings.TrimRight(b64, "=") + `","appraisedValue":1}`},
		{2, `{"reportBase64":"JVBERi0=","appraisedValue":"1"}`},
		{2, `{"reportBase64":"` + base64.StdEncoding.EncodeToString(bytes.Repeat(testPDF, 60)) + `","appraisedValue":1}`},
		{2, `{"reportBase64":5,"appraisedValue":{}}`},
	}
	for _, s := range seeds {
		f.Add(s.action, "application/json", []byte(s.body))
	}
	for i, body := range []string{``, `null`, `[]`, `{}`, `"x"`, `{"a":1} {}`, `{"a":1}]`, `{`, strings.Repeat("[", 10000), "\xef\xbb\xbf{}"} {
		f.Add(uint8(i), "", []byte(body))
	}
	for i, ctype := range []string{"application/problem+json; charset=utf-8", "text/plain", "multipart/form-data", "application/json; charset", ";;", "APPLICATION/JSON",
		"", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "application/jsonx"} {
		f.Add(uint8(i), ctype, []byte(`{"text":"x"}`))
	}
	// The delivery's limits: a report of exactly the limit and one byte more, the other
	// members past their budget, the report streamed with escapes and split by them.
	report := bytes.Repeat([]byte("%PDF-"), fuzzReportLimit/5+2)
	for _, body := range []string{
		`{"appraisedValue":1,"reportBase64":"` + base64.StdEncoding.EncodeToString(report[:fuzzReportLimit]) + `"}`,
		`{"appraisedValue":1,"reportBase64":"` + base64.StdEncoding.EncodeToString(report[:fuzzReportLimit+1]) + `"}`,
		`{"appraisedValue":1,"comments":"` + strings.Repeat("x", maxJSONBytes) + `","reportBase64":"` + b64 + `"}`,
		`{"appraisedValue":1,"reportBase64":"` + strings.ReplaceAll(b64, "/", `\/`) + `"}`,
		`{"appraisedValue":1,"reportBase64":"` + b64[:8] + `\n\u0041` + b64[8:] + `"}`,
		`{"appraisedValue":1,"reportBase64":"` + b64 + `","reportBase64":"` + b64 + `"}`,
		`{"appraisedValue":1,"reportBase64":"` + b64,
	} {
		f.Add(uint8(2), "application/json", []byte(body))
	}

	eng := &actionEngine{fakeEngine: fakeEngine{status: awaitingReport}}
	h := directAPI(f, eng, func(c *Config) { c.MaxReportBytes = fuzzReportLimit })
	f.Fuzz(func(t *testing.T, action uint8, ctype string, body []byte) {
		operatorCall(t, h, eng, fuzzTxPath+operatorActions[int(action)%len(operatorActions)], ctype, body)
	})
}

const fuzzBoundary = "fuzz-boundary-7d1e"

// rawForm builds a multipart body with fuzzBoundary; a field whose name starts with "@" is
// a file part.
func rawForm(tb testing.TB, fields ...[2]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(fuzzBoundary); err != nil {
		tb.Fatal(err)
	}
	for _, fl := range fields {
		var err error
		if name, ok := strings.CutPrefix(fl[0], "@"); ok {
			var w io.Writer
			if w, err = mw.CreateFormFile(name, "report.pdf"); err == nil {
				_, err = w.Write([]byte(fl[1]))
			}
		} else {
			err = mw.WriteField(fl[0], fl[1])
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzDeliverMultipart posts arbitrary bytes as the multipart delivery, under an arbitrary
// content type (seeded with the fuzzBoundary one).
func FuzzDeliverMultipart(f *testing.F) {
	ctype := "multipart/form-data; boundary=" + fuzzBoundary
	pdf := string(testPDF)
	for _, fields := range [][][2]string{
		{{"appraisedValue", "500000"}, {"appraisalType", "Full"}, {"completedAt", "2026-07-02T10:00:00Z"}, {"comments", "no issues"}, {"@report", pdf}},
		{{"@report", pdf}, {"appraisedValue", "1"}},
		{{"appraisedValue", "1"}, {"appraisedValue", "2"}, {"@report", pdf}, {"@report", pdf}},
		{{"appraisedValue", "0"}, {"completedAt", "tomorrow"}, {"extra", "x"}, {"@report", "GIF89a"}},
		{{"appraisedValue", "1"}, {"@report", ""}},
		{{"appraisedValue", "1"}, {"@report", "%PD"}},
		{{"appraisedValue", "1"}, {"@report", strings.Repeat(pdf, 60)}},
		{{"appraisedValue", "1"}, {"comments", "\xff"}, {"@report", pdf}},
		{{"appraisedValue", "1"}, {"appraisalType", strings.Repeat("x", maxFormValueBytes+1)}, {"@report", pdf}},
		{{"a/b~c", "1"}, {"", "x"}},
		{},
	} {
		f.Add(ctype, rawForm(f, fields...))
	}
	parts := []string{
		// No Content-Disposition, a quoted-printable field, an RFC 2231 name, a nested form.
		"--" + fuzzBoundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + fuzzBoundary + "--\r\n",
		"--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"appraisedValue\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n5=30\r\n--" + fuzzBoundary + "--\r\n",
		"--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name*=UTF-8''report; filename=\"r.pdf\"\r\n\r\n%PDF-1\r\n--" + fuzzBoundary + "--\r\n",
		"--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\n%PDF-\r\n--in--\r\n--" + fuzzBoundary + "--\r\n",
		"--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"report\"\r\n\r\n%PDF-1.7 cut off",
		"garbage",
	}
	for _, p := range parts {
		f.Add(ctype, []byte(p))
	}
	f.Add("multipart/form-data", rawForm(f, [2]string{"appraisedValue", "1"}))
	f.Add("multipart/form-data; boundary=\"\"", []byte("--\r\n"))
	f.Add("multipart/form-data; boundary="+strings.Repeat("b", 71), []byte("x"))
	f.Add("application/pdf", testPDF)

	eng := &actionEngine{fakeEngine: fakeEngine{status: awaitingReport}}
	h := directAPI(f, eng, func(c *Config) { c.MaxReportBytes = fuzzReportLimit })
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		operatorCall(t, h, eng, fuzzTxPath+"/deliver", ctype, body)
	})
}

// FuzzDeliverForm builds well-formed multipart deliveries from arbitrary field values, file
// content and an arbitrary extra field, so the fuzzer spends its time on the fields rather
// than on the multipart syntax. Beyond operatorCall's checks: a well-formed form is never
// "malformed", and a report that is not a PDF is never accepted.
func FuzzDeliverForm(f *testing.F) {
	f.Add("500000", "Full", "2026-07-02T10:00:00Z", "no issues", testPDF, "", "")
	f.Add("1", "", "", "", testPDF, "report", "%PDF-again")
	f.Add("0", "x", "tomorrow", "\xff", []byte("GIF89a"), "unknown", "x")
	f.Add("+1", "", "0001-01-01T00:00:00Z", "", []byte("%PDF-"), "", "")
	f.Add(" 1", strings.Repeat("é", 201), "", "", []byte{}, "comments", "twice")
	f.Add("9223372036854775807", "", "", "", bytes.Repeat(testPDF, 60), "", "")

	eng := &actionEngine{fakeEngine: fakeEngine{status: awaitingReport}}
	h := directAPI(f, eng, func(c *Config) { c.MaxReportBytes = fuzzReportLimit })
	f.Fuzz(func(t *testing.T, value, appraisalType, completedAt, comments string, report []byte, extraName, extraValue string) {
		if strings.ContainsFunc(extraName, unicode.IsControl) {
			return // multipart.Writer would write a header no reader takes: not a well-formed form
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		field := func(name, v string) {
			if err := mw.WriteField(name, v); err != nil {
				t.Fatal(err)
			}
		}
		field("appraisedValue", value)
		field("appraisalType", appraisalType)
		field("completedAt", completedAt)
		field("comments", comments)
		w, err := mw.CreateFormFile("report", "report.pdf")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(report)
		if extraName != "" {
			field(extraName, extraValue)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		rec := operatorCall(t, h, eng, fuzzTxPath+"/deliver", mw.FormDataContentType(), buf.Bytes())
		switch {
		case strings.Contains(rec.Body.String(), "malformed multipart"):
			t.Fatalf("a well-formed form was called malformed: %s", rec.Body)
		case rec.Code == http.StatusOK && !bytes.HasPrefix(report, []byte(pdfMagic)):
			t.Fatalf("accepted a report that is not a PDF: %q", report)
		case rec.Code == http.StatusBadRequest && !bytes.HasPrefix(report, []byte(pdfMagic)):
			var answer ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &answer)
			if !hasPointer(answer.Problems, "/report") {
				t.Fatalf("a report that is not a PDF is not named: %s", rec.Body)
			}
		}
	})
}
