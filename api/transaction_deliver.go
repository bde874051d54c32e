package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/internal/httpserver"
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
// fields as form values) or as JSON with the PDF in "reportBase64". Nothing is read or
// stored before the order is known to wait for a report (its status query): a delivery to an
// unknown or finished order costs a query, not a file. The PDF is then streamed to the blob
// store under MaxReportBytes, never held whole in memory, and the workflow gets its
// reference. A report the workflow then refuses stays unreferenced and is swept
// (blobs.Sweep); one it takes is marked kept.
func (s *server) deliver(c *gin.Context) {
	actor, ok := requestActor(c)
	if !ok {
		return
	}
	// The operator is authenticated (operatorAuth ran first): their upload gets its own
	// budget instead of the server's read timeout.
	if err := httpserver.Extend(c.Writer, s.cfg.UploadTimeout); err != nil {
		LoggerFrom(c).Debug("upload budget not extended", "error", err)
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var limit int64
	switch {
	case mt == "multipart/form-data":
		limit = s.cfg.MaxReportBytes + maxJSONBytes // the PDF and the form's other fields
	case isJSONType(mt):
		limit = int64(base64.StdEncoding.EncodedLen(int(s.cfg.MaxReportBytes))) + maxJSONBytes
	default:
		abort(c, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be multipart/form-data or application/json")
		return
	}
	if c.Request.ContentLength > limit {
		tooLarge(c, s.cfg.MaxReportBytes)
		return
	}
	if !s.awaitsReport(c) {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	var (
		file blobs.File
		f    deliverFields
	)
	if mt == "multipart/form-data" {
		file, f, ok = s.deliverMultipart(c)
	} else {
		file, f, ok = s.deliverJSON(c)
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
	log := LoggerFrom(c)
	log.Info("report stored", "sha256", file.SHA256, "size", file.Size)
	s.act(c, "deliver", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		res, err := s.cfg.Engine.Deliver(ctx, id, in)
		if err == nil {
			// The workflow references the report now: never swept. The upload activity
			// marks it too, should this fail.
			if kerr := s.cfg.Blobs.Keep(ctx, file.SHA256); kerr != nil {
				log.Warn("report not marked kept", "sha256", file.SHA256, "error", kerr)
			}
		}
		return res, err
	})
}

// awaitsReport asks the order's workflow whether it waits for a report, as the deliver
// update's validator will, and answers 404 or 409 if not: false when it has answered.
func (s *server) awaitsReport(c *gin.Context) bool {
	st, ok := s.queryStatus(c)
	if !ok {
		return false
	}
	if msg := deliverRefusal(c.Param(keyParamID), st); msg != "" {
		abort(c, http.StatusConflict, CodeConflict, msg)
		return false
	}
	return true
}

// deliverRefusal says why an order in status st cannot take a report, in the words of the
// workflow's validator (workflows.txState.validateDeliver); "" when it can.
func deliverRefusal(id string, st workflows.Status) string {
	switch {
	case st.Closed:
		return fmt.Sprintf("transaction %s is closed (%s): no further actions", id, st.Stage)
	case st.RequestType != "" && st.RequestType != workflows.TypeAppraisal:
		return fmt.Sprintf("cannot deliver the report: this is a %s order, not an Appraisal", st.RequestType)
	case st.RequestType == "":
		return fmt.Sprintf("cannot deliver the report yet: the order is still at stage %q", st.Stage)
	case st.Inspection == nil:
		return "schedule the inspection before delivering the report"
	case st.Report != nil:
		return "the report was already delivered"
	}
	return ""
}

// deliverJSON: {"reportBase64", "appraisedValue", "appraisalType"?, "completedAt"?,
// "comments"?}. The base64 text is decoded as it arrives and streamed to the store
// (streamObject); the other members may take maxJSONBytes.
func (s *server) deliverJSON(c *gin.Context) (blobs.File, deliverFields, bool) {
	var (
		file      blobs.File
		given     bool   // reportBase64 was a string
		reportMsg string // what is wrong with it
	)
	o, err := streamObject(c.Request.Body, maxJSONBytes, "reportBase64", func(text io.Reader) error {
		given = true
		var err error
		file, reportMsg, err = s.storeReport(c.Request.Context(), base64.NewDecoder(base64.StdEncoding, text))
		return err
	})
	if err != nil {
		s.reportReadFailed(c, err)
		return blobs.File{}, deliverFields{}, false
	}
	f := deliverFields{
		appraisedValue: o.positiveInt("appraisedValue", true, appraisedValueRule),
		appraisalType:  o.str("appraisalType", false, maxNameLen),
		completedAt:    o.time("completedAt", false),
		comments:       o.str("comments", false, maxCommentsLen),
	}
	_, present := o.raw("reportBase64")
	switch {
	case given && reportMsg != "":
		o.add("/reportBase64", reportMsg)
	case !present:
		o.add("/reportBase64", "required: the appraisal report PDF, base64-encoded")
	case !given:
		o.add("/reportBase64", "must be a string (the PDF, base64-encoded)")
	}
	if !answerProblems(c, o.problems()) {
		return blobs.File{}, f, false
	}
	return file, f, true
}

// errStore is a failure of the blob store, not of the request.
var errStore = errors.New("cannot store the report")

// storeReport checks that r starts as a PDF and streams it to the store under
// MaxReportBytes. msg is what is wrong with the report (nothing stored); err a failure that
// ends the request: errReportTooLarge, errStore, or a failed read of the body.
func (s *server) storeReport(ctx context.Context, r io.Reader) (file blobs.File, msg string, err error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(len(pdfMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		if msg, ok := reportProblem(err); ok {
			return blobs.File{}, msg, nil
		}
		return blobs.File{}, "", err
	}
	if msg := checkPDF(head); msg != "" {
		return blobs.File{}, msg, nil
	}
	cr := &cappedReader{r: br, max: s.cfg.MaxReportBytes}
	sha, size, err := s.cfg.Blobs.Put(ctx, cr, 0)
	switch {
	case cr.err != nil:
		if msg, ok := reportProblem(cr.err); ok {
			return blobs.File{}, msg, nil
		}
		return blobs.File{}, "", cr.err
	case err != nil:
		return blobs.File{}, "", fmt.Errorf("%w: %w", errStore, err)
	}
	return reportFile(sha, size), "", nil
}

// reportProblem words a read error that is the report's fault: base64 that is not, or
// stops short of a whole quantum. A failure to read the body itself is not.
func reportProblem(err error) (string, bool) {
	var (
		ce base64.CorruptInputError
		we *wireError
	)
	if !errors.As(err, &we) && (errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return "must be standard base64 (RFC 4648, with padding)", true
	}
	return "", false
}

// reportReadFailed answers a delivery whose body could not be read to its end.
func (s *server) reportReadFailed(c *gin.Context, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, errReportTooLarge):
		tooLarge(c, s.cfg.MaxReportBytes)
	case errors.Is(err, errMembersTooLarge):
		abort(c, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body too large: the members other than reportBase64 are limited to %d bytes", maxJSONBytes))
	case errors.Is(err, errStore):
		_ = c.Error(err)
		abort(c, http.StatusInternalServerError, CodeInternal, "cannot store the report")
	default:
		bodyFailed(c, err)
	}
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
// invalid, the stored bytes stay unreferenced until swept; the store is content-addressed,
// so a retry writes nothing new.
func (s *server) deliverMultipart(c *gin.Context) (blobs.File, deliverFields, bool) {
	var f deliverFields
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
		if errors.As(err, &mbe) || errors.Is(err, errReportTooLarge) || errors.Is(err, errStore) || errors.Is(err, os.ErrDeadlineExceeded) {
			s.reportReadFailed(c, err)
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
			got, msg, err := s.storeReport(c.Request.Context(), wireReader{part})
			if err != nil {
				return readFailed(err)
			}
			if msg != "" {
				add(name, msg)
				break
			}
			file, stored = got, true
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
