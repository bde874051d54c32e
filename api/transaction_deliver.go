package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/workflows"
)

// Report file as handed to the workflow.
const (
	reportName     = "AppraisalReport.pdf"
	reportMimeType = "application/pdf"
	pdfMagic       = "%PDF-"
)

// maxFormValueBytes bounds each non-file multipart field.
const maxFormValueBytes = 16 << 10

// errReportTooLarge is returned by cappedReader past its limit.
var errReportTooLarge = errors.New("report larger than the limit")

// deliverFields are the delivery's fields other than the report.
type deliverFields struct {
	appraisedValue int64
	appraisalType  string
	completedAt    time.Time
	comments       string
}

const appraisedValueRule = "the appraised value in whole dollars"

// deliver takes the report either as multipart/form-data (file field "report" and the other
// fields as form values) or as JSON with the PDF in "reportBase64". The PDF is checked and
// stored in the blob store; the workflow only gets its reference.
func (s *server) deliver(c *gin.Context) {
	actor, ok := requestActor(c)
	if !ok {
		return
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var (
		file blobs.File
		f    deliverFields
	)
	switch {
	case mt == "multipart/form-data":
		file, f, ok = s.deliverMultipart(c)
	case mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json"):
		file, f, ok = s.deliverJSON(c)
	default:
		abort(c, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be multipart/form-data or application/json")
		return
	}
	if !ok {
		return
	}
	in := workflows.DeliverInput{
		Report:         file,
		AppraisedValue: f.appraisedValue,
		AppraisalType:  f.appraisalType,
		CompletedAt:    f.completedAt,
		Comments:       f.comments,
		Actor:          actor,
	}
	LoggerFrom(c).Info("report stored", "sha256", file.SHA256, "size", file.Size)
	s.act(c, "deliver", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return s.cfg.Engine.Deliver(ctx, id, in)
	})
}

// deliverJSON: {"reportBase64", "appraisedValue", "appraisalType"?, "completedAt"?, "comments"?}.
func (s *server) deliverJSON(c *gin.Context) (blobs.File, deliverFields, bool) {
	limit := int64(base64.StdEncoding.EncodedLen(int(s.cfg.MaxReportBytes))) + maxJSONBytes
	o, ok := s.jsonObject(c, limit)
	if !ok {
		return blobs.File{}, deliverFields{}, false
	}
	f := deliverFields{
		appraisedValue: o.positiveInt("appraisedValue", true, appraisedValueRule),
		appraisalType:  o.str("appraisalType", false, maxNameLen),
		completedAt:    o.time("completedAt", false),
		comments:       o.str("comments", false, maxCommentsLen),
	}
	var pdf []byte
	if raw, present := o.raw("reportBase64"); !present {
		o.add("/reportBase64", "required: the appraisal report PDF, base64-encoded")
	} else {
		var b64 string
		if err := json.Unmarshal(raw, &b64); err != nil {
			o.add("/reportBase64", "must be a string (the PDF, base64-encoded)")
		} else if int64(base64.StdEncoding.DecodedLen(len(b64))) > s.cfg.MaxReportBytes+3 {
			tooLarge(c, s.cfg.MaxReportBytes)
			return blobs.File{}, f, false
		} else if pdf, err = base64.StdEncoding.DecodeString(b64); err != nil {
			o.add("/reportBase64", "must be standard base64 (RFC 4648, with padding)")
		} else if int64(len(pdf)) > s.cfg.MaxReportBytes {
			tooLarge(c, s.cfg.MaxReportBytes)
			return blobs.File{}, f, false
		} else if msg := checkPDF(pdf); msg != "" {
			o.add("/reportBase64", msg)
		}
	}
	if !answerProblems(c, o.problems()) {
		return blobs.File{}, f, false
	}
	sha, size, err := s.cfg.Blobs.Put(c.Request.Context(), bytes.NewReader(pdf), s.cfg.MaxReportBytes)
	if err != nil {
		_ = c.Error(err)
		abort(c, http.StatusInternalServerError, CodeInternal, "cannot store the report")
		return blobs.File{}, f, false
	}
	return reportFile(sha, size), f, true
}

func reportFile(sha string, size int64) blobs.File {
	return blobs.File{SHA256: sha, Size: size, Name: reportName, MimeType: reportMimeType}
}

func checkPDF(head []byte) string {
	switch {
	case len(head) == 0:
		return "the file is empty: a PDF is required"
	case !bytes.HasPrefix(head, []byte(pdfMagic)):
		return "must be a PDF (the file does not start with " + pdfMagic + ")"
	}
	return ""
}

// deliverMultipart streams the form: the report goes straight to the blob store (never
// whole in memory), after its first bytes are checked. If another field then turns out
// invalid, the stored bytes stay unreferenced; the store is content-addressed, so a retry
// writes nothing new.
func (s *server) deliverMultipart(c *gin.Context) (blobs.File, deliverFields, bool) {
	var f deliverFields
	limit := s.cfg.MaxReportBytes + maxJSONBytes // the PDF and the form's other fields
	if c.Request.ContentLength > limit {
		tooLarge(c, s.cfg.MaxReportBytes)
		return blobs.File{}, f, false
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "malformed multipart/form-data body: "+err.Error())
		return blobs.File{}, f, false
	}
	var (
		probs  []schemas.Problem
		file   blobs.File
		stored bool
		values = map[string]string{}
		seen   = map[string]bool{}
	)
	add := func(name, msg string) { probs = append(probs, schemas.Problem{Pointer: pointerTo(name), Message: msg}) }
	readFailed := func(err error) (blobs.File, deliverFields, bool) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errReportTooLarge) {
			tooLarge(c, s.cfg.MaxReportBytes)
		} else {
			abort(c, http.StatusBadRequest, CodeInvalidRequest, "malformed multipart/form-data body")
		}
		return blobs.File{}, f, false
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readFailed(err)
		}
		name := part.FormName()
		switch {
		case name == "":
			// Not a form field (no name): nothing we can use.
		case seen[name]:
			add(name, "given more than once")
		case name == "report":
			seen[name] = true
			br := bufio.NewReader(part)
			head, err := br.Peek(len(pdfMagic))
			if err != nil && !errors.Is(err, io.EOF) {
				return readFailed(err)
			}
			if msg := checkPDF(head); msg != "" {
				add(name, msg)
				break
			}
			cr := &cappedReader{r: br, max: s.cfg.MaxReportBytes}
			sha, size, err := s.cfg.Blobs.Put(c.Request.Context(), cr, 0)
			switch {
			case cr.err != nil:
				return readFailed(cr.err)
			case err != nil:
				_ = c.Error(err)
				abort(c, http.StatusInternalServerError, CodeInternal, "cannot store the report")
				return blobs.File{}, f, false
			}
			file, stored = reportFile(sha, size), true
		case name == "appraisedValue" || name == "appraisalType" || name == "completedAt" || name == "comments":
			seen[name] = true
			b, err := io.ReadAll(io.LimitReader(part, maxFormValueBytes+1))
			if err != nil {
				return readFailed(err)
			}
			if len(b) > maxFormValueBytes {
				add(name, fmt.Sprintf("must be at most %d bytes", maxFormValueBytes))
				break
			}
			values[name] = string(b)
		default:
			add(name, "unknown field")
		}
		part.Close()
	}

	if !seen["report"] {
		add("report", "required: the appraisal report PDF as a file field")
	}
	if v, ok := values["appraisedValue"]; !ok {
		if !seen["appraisedValue"] {
			add("appraisedValue", "required")
		}
	} else if n, msg := parsePositiveInt(v, appraisedValueRule); msg != "" {
		add("appraisedValue", msg)
	} else {
		f.appraisedValue = n
	}
	if v := values["appraisalType"]; v != "" {
		if msg := checkString(v, false, maxNameLen); msg != "" {
			add("appraisalType", msg)
		}
		f.appraisalType = v
	}
	if v := values["completedAt"]; v != "" {
		t, msg := parseTime(v)
		if msg != "" {
			add("completedAt", msg)
		}
		f.completedAt = t
	}
	if v := values["comments"]; v != "" {
		if msg := checkString(v, false, maxCommentsLen); msg != "" {
			add("comments", msg)
		}
		f.comments = v
	}
	sortProblems(probs)
	if !answerProblems(c, probs) {
		return blobs.File{}, f, false
	}
	if !stored { // cannot happen: a seen, valid report is stored
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "the report is missing")
		return blobs.File{}, f, false
	}
	return file, f, true
}

// cappedReader fails with errReportTooLarge past max bytes, and remembers any read error,
// so that a failed Put can be blamed on the client (too large, cut off) or on the store.
type cappedReader struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (r *cappedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	if r.n > r.max {
		r.err = errReportTooLarge
		return n, r.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}
