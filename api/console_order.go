package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the operators' time zones, on hosts without a zoneinfo database

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// An order's page and the operator's actions on it. A refused action shows the order again
// with the reason on the form it came from; an accepted one leads back to the order with the
// workflow's answer.

const consoleFlashCookie = "epcflow_console_flash"

// formState is a form refused: its values, the reason, the problem of each field.
type formState struct {
	Action   string
	Error    string
	Problems map[string]string
	Values   map[string]string
}

// askedView is what the lender asked, as epcflow last read the order.
type askedView struct {
	RequestType, Product, LoanNumber, Lender, Address, Credentials string
	Attachments                                                    []epc.Resource
}

// orderPageView is the order page.
type orderPageView struct {
	ID, WorkflowID, RunID, Execution, TemporalURL string
	Started, Closed                               time.Time
	Heading                                       string
	St                                            *workflows.Status
	StatusErr                                     string
	StageTitle, Due                               string
	Overdue                                       bool
	Asked                                         *askedView
	Timeline                                      []timelineEntry
	Truncated                                     bool
	CanSchedule, CanDeliver, CanProgress          bool
	Form                                          formState
	MaxReportBytes                                int64
	Self                                          string
}

// orderParam checks :id on the console's order routes.
func (h *console) orderParam(c *gin.Context) {
	id := c.Param(keyParamID)
	if !validTransactionID(id) {
		h.errorPage(c, http.StatusBadRequest, "That is not a transaction id: 1 to 128 characters of A-Z a-z 0-9 - _ .")
		return
	}
	setTransactionID(c, id)
	c.Next()
}

// orderPage is GET /console/orders/:id.
func (h *console) orderPage(c *gin.Context) {
	h.showOrder(c, http.StatusOK, formState{})
}

// showOrder renders the order page with status; form is the refused form, if any.
func (h *console) showOrder(c *gin.Context, status int, form formState) {
	id := c.Param(keyParamID)
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	var (
		wg      sync.WaitGroup
		hist    starter.OrderHistory
		st      workflows.Status
		herr    error
		stErr   error
		flashed = h.takeFlash(c)
	)
	wg.Add(2)
	go func() { defer wg.Done(); hist, herr = h.cfg.Engine.Order(ctx, id) }()
	go func() { defer wg.Done(); st, stErr = h.srv.cfg.Engine.Status(ctx, id) }()
	wg.Wait()
	if herr != nil {
		h.engineFailure(c, "Transaction "+id, herr)
		return
	}
	v := orderPageView{
		ID: id, WorkflowID: hist.WorkflowID, RunID: hist.RunID, Execution: hist.Status, Started: hist.StartedAt,
		Closed: hist.ClosedAt, TemporalURL: h.temporalLink(hist.WorkflowID, hist.RunID), Heading: id,
		Timeline: buildTimeline(hist), Truncated: hist.Truncated, Asked: askedFrom(hist), Form: form,
		MaxReportBytes: h.srv.cfg.MaxReportBytes, Self: orderURL(id),
	}
	if stErr == nil {
		v.St = &st
		if st.LoanNumber != "" {
			v.Heading = st.LoanNumber
		}
		v.StageTitle = stageTitle(st.Stage)
		v.Due, v.Overdue = dueText(st.Stage, st.DueAt, time.Now())
	} else {
		_ = c.Error(stErr)
		v.StatusErr = "The order's live state cannot be read right now (" + rejection(stErr) + "); its history is below."
	}
	open := hist.Status == "Running" && (v.St == nil || !v.St.Closed)
	appraisal := v.St == nil || v.St.RequestType == "" || v.St.RequestType == workflows.TypeAppraisal
	v.CanProgress = open
	v.CanSchedule = open && appraisal && (v.St == nil || v.St.Inspection == nil)
	v.CanDeliver = open && appraisal && (v.St == nil || v.St.Inspection != nil && v.St.Report == nil)
	// A refused form stays on the page, with its reason, whatever the order's state now.
	v.CanSchedule = v.CanSchedule || form.Action == "schedule"
	v.CanProgress = v.CanProgress || form.Action == "progress"
	h.render(c, status, "order", pageData{Title: v.Heading, Nav: "queue", Flash: flashed, Content: v})
}

// askedFrom is the order as the last read of it (GatherData, or AcknowledgeAndGather) found it.
func askedFrom(h starter.OrderHistory) *askedView {
	scheduled := map[int64]string{}
	var last json.RawMessage
	for _, e := range h.Events {
		switch e.Type {
		case "ActivityTaskScheduled":
			scheduled[e.ID] = e.Name
		case "ActivityTaskCompleted":
			if o := orderData(scheduled[e.ScheduledID], e.Result); o != nil {
				last = o
			}
		case "MarkerRecorded": // a local activity
			if o := orderData(e.Name, e.Result); o != nil {
				last = o
			}
		}
	}
	var o activities.OrderData
	if last == nil || json.Unmarshal(last, &o) != nil {
		return nil
	}
	a := &askedView{RequestType: o.RequestType, Product: o.Product, LoanNumber: o.LoanNumber, Lender: o.ClientID,
		Address: address(o.Property), Attachments: o.Attachments, Credentials: "valid"}
	if !o.CredentialsValid {
		a.Credentials = "refused: " + o.CredentialsProblem
	}
	return a
}

// schedule is POST /console/orders/:id/schedule: at (date and time), tz (the browser's zone,
// set by the page's script; default UTC), appraiser, comments.
func (h *console) schedule(c *gin.Context) {
	f := postedForm(c, "schedule", "at", "tz", "appraiser", "comments")
	at, msg := parseInspectionTime(f.Values["at"], f.Values["tz"])
	if msg != "" {
		f.Problems["at"] = msg
	}
	h.checkText(f, "appraiser", false, maxNameLen)
	h.checkText(f, "comments", false, maxCommentsLen)
	h.submit(c, f, "The inspection is not scheduled", func(ctx context.Context, id, actor string) (workflows.ActionResult, error) {
		in := workflows.ScheduleInput{InspectionAt: at, Appraiser: f.Values["appraiser"], Comments: f.Values["comments"], Actor: actor}
		return h.srv.cfg.Engine.Schedule(ctx, id, in)
	})
}

// progress is POST /console/orders/:id/progress: text, comments.
func (h *console) progress(c *gin.Context) {
	f := postedForm(c, "progress", "text", "comments")
	h.checkText(f, "text", true, maxTextLen)
	h.checkText(f, "comments", false, maxCommentsLen)
	h.submit(c, f, "The note was not posted", func(ctx context.Context, id, actor string) (workflows.ActionResult, error) {
		in := workflows.ProgressInput{Text: f.Values["text"], Comments: f.Values["comments"], Actor: actor}
		return h.srv.cfg.Engine.Progress(ctx, id, in)
	})
}

// submit shows the order again with f's problems, saying refused; without problems it runs
// the action as the signed-in operator.
func (h *console) submit(c *gin.Context, f formState, refused string, run func(ctx context.Context, id, actor string) (workflows.ActionResult, error)) {
	if len(f.Problems) > 0 {
		f.Error = refused + ": see below."
		h.showOrder(c, http.StatusBadRequest, f)
		return
	}
	s, _ := consoleSession(c)
	h.act(c, f, func(ctx context.Context, id string) (workflows.ActionResult, error) { return run(ctx, id, s.Actor) })
}

// deliver is POST /console/orders/:id/deliver, the page script's multipart upload (CSRF token
// in its header): the JSON API's delivery, as the signed-in operator. It answers JSON.
func (h *console) deliver(c *gin.Context) {
	s, _ := consoleSession(c)
	c.Request.Header.Set(ActorHeader, s.Actor)
	h.srv.deliver(c)
}

func postedForm(c *gin.Context, action string, fields ...string) formState {
	f := formState{Action: action, Problems: map[string]string{}, Values: map[string]string{}}
	for _, k := range fields {
		f.Values[k] = strings.TrimSpace(c.PostForm(k))
	}
	return f
}

func (h *console) checkText(f formState, field string, required bool, max int) {
	if msg := checkString(f.Values[field], required, max); msg != "" {
		f.Problems[field] = msg
	}
}

// parseInspectionTime reads a datetime-local value ("2026-07-01T14:00") in zone tz, or an
// RFC 3339 time.
func parseInspectionTime(v, tz string) (time.Time, string) {
	if v == "" {
		return time.Time{}, "enter the inspection's date and time"
	}
	if strings.ContainsAny(v, "Zz+") || strings.Count(v, "-") > 2 {
		return parseTime(v) // RFC 3339, with its zone
	}
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || len(tz) > 64 || strings.ContainsAny(tz, ".\\") {
			return time.Time{}, "unknown time zone " + quoteForPeople(tz)
		}
		loc = l
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil && t.Year() > 1 {
			return t, ""
		}
	}
	return time.Time{}, "must be a date and time, e.g. 2026-07-01T14:00"
}

// act sends a form's action to the workflow: accepted, back to the order with its answer;
// refused, the order again with the reason on the form.
func (h *console) act(c *gin.Context, f formState, do func(ctx context.Context, id string) (workflows.ActionResult, error)) {
	id := c.Param(keyParamID)
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	res, err := do(ctx, id)
	if err == nil {
		LoggerFrom(c).Info("operator action accepted", "action", f.Action, "stage", res.Stage)
		h.setFlash(c, capitalize(res.Message)+".")
		c.Redirect(http.StatusSeeOther, orderURL(id))
		return
	}
	_ = c.Error(err)
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, starter.ErrRejected), errors.Is(err, starter.ErrClosed):
		status, f.Error = http.StatusConflict, "Refused: "+rejection(err)+"."
	case errors.Is(err, starter.ErrNotFound):
		status, f.Error = http.StatusNotFound, "There is no such order any more."
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && c.Request.Context().Err() == nil:
		status, f.Error = http.StatusGatewayTimeout, "No answer from the workflow in time; the action may still complete: reload the page to see."
	case errors.Is(err, starter.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		c.Header("Retry-After", retryAfterSeconds)
		status, f.Error = http.StatusServiceUnavailable, "The workflow engine is unavailable; try again shortly."
	default:
		f.Error = "Something went wrong; the request id is in the X-Request-Id header."
	}
	LoggerFrom(c).Info("operator action refused", "action", f.Action, "status", status)
	h.showOrder(c, status, f)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// setFlash leaves a message for the next page (a short-lived cookie under our MAC).
func (h *console) setFlash(c *gin.Context, msg string) {
	msg = truncate(msg, 500)
	v := b64.EncodeToString([]byte(msg)) + "." + b64.EncodeToString(h.keys.sum("flash", msg))
	h.setCookie(c, consoleFlashCookie, v, 60)
}

// takeFlash reads and clears the message left by the last action.
func (h *console) takeFlash(c *gin.Context) string {
	ck, err := c.Request.Cookie(consoleFlashCookie)
	if err != nil {
		return ""
	}
	h.setCookie(c, consoleFlashCookie, "", -1)
	m, mac, ok := strings.Cut(ck.Value, ".")
	msg, err1 := b64.DecodeString(m)
	sum, err2 := b64.DecodeString(mac)
	if !ok || err1 != nil || err2 != nil || !hmacEqual(sum, h.keys.sum("flash", string(msg))) {
		return ""
	}
	return string(msg)
}
