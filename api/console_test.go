package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The console's pages and actions, on fakes of the engine and of visibility.

// loans lists the loan numbers a page links, in order.
func loans(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`class="loan" href="[^"]*">([^<]*)<`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestConsoleQueueGroupsByWhatOrdersWaitFor(t *testing.T) {
	a := newConsoleAPI(t)
	now := time.Now()
	orders := []starter.OrderRow{
		{TransactionID: "t1", LoanNumber: "L-OLD", Stage: workflows.StageAwaitSchedule, RequestType: "Appraisal", StartedAt: now.Add(-50 * time.Hour)},
		{TransactionID: "t2", LoanNumber: "L-NEW", Stage: workflows.StageAwaitSchedule, RequestType: "Appraisal", StartedAt: now.Add(-time.Hour)},
		{TransactionID: "t3", LoanNumber: "L-LATER", Stage: workflows.StageAwaitReport, RequestType: "Appraisal", DueAt: now.Add(48 * time.Hour), StartedAt: now.Add(-3 * time.Hour)},
		{TransactionID: "t4", LoanNumber: "L-SOONER", Stage: workflows.StageAwaitReport, RequestType: "Appraisal", DueAt: now.Add(2 * time.Hour), StartedAt: now.Add(-2 * time.Hour)},
		{TransactionID: "t5", LoanNumber: "L-LATE", Stage: workflows.StageInputRequired, RequestType: "FloodCertification", DueAt: now.Add(-time.Minute), StartedAt: now.Add(-73 * time.Hour), ClientID: "3010000024"},
		{TransactionID: "t6", LoanNumber: "L-BUSY", Stage: workflows.StageUploading, RequestType: "FloodCertification", StartedAt: now},
	}
	a.con.rows = func(f starter.OrderFilter) []starter.OrderRow {
		var out []starter.OrderRow
		for _, r := range orders {
			if !f.Finished && (len(f.Stages) == 0 || slices.Contains(f.Stages, r.Stage)) && (f.Search == "" || strings.HasPrefix(r.LoanNumber, f.Search)) {
				out = append(out, r)
			}
		}
		return out
	}
	b := a.signedIn(t, "Ada")
	p := a.get(t, b, ConsolePath)
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "6 open")
	// Each group in the operator's words, the most urgent first: what falls due soonest, then the oldest.
	groups := regexp.MustCompile(`<h2>([^<]*) <span class="badge">(\d+)</span>`).FindAllStringSubmatch(p.body, -1)
	require.Equal(t, [][]string{
		{groups[0][0], "Schedule the inspection", "2"}, {groups[1][0], "Deliver the report", "2"},
		{groups[2][0], "Waiting for the lender&#39;s input", "1"}, {groups[3][0], "epcflow is working", "1"},
	}, groups)
	require.Equal(t, []string{"L-OLD", "L-NEW", "L-SOONER", "L-LATER", "L-LATE", "L-BUSY"}, loans(p.body))
	require.Contains(t, p.body, "2 d 2 h", "age")
	require.Contains(t, p.body, "inspection in 1 h 59 min")
	require.Contains(t, p.body, `class="overdue"`)
	require.Contains(t, p.body, "the lender&#39;s deadline has passed")
	require.Contains(t, p.body, "3010000024")

	// A stage filter keeps its group, filtered; a search looks among the finished too.
	p = a.get(t, b, ConsolePath+"?stage=awaiting-report&type=Appraisal&q=L-SOON")
	require.Equal(t, http.StatusOK, p.status)
	require.Equal(t, []string{"L-SOONER"}, loans(p.body))
	require.Contains(t, p.body, "Finished orders matching")
	seen := a.con.seen()
	last := seen[len(seen)-1]
	require.Equal(t, starter.OrderFilter{Finished: true, Stages: []string{"awaiting-report"}, RequestType: "Appraisal", Search: "L-SOON"}, last)
	require.Contains(t, p.body, `<option value="awaiting-report" selected>`)

	// Bad filters are told plainly, and never reach visibility.
	before := len(a.con.seen())
	for q, want := range map[string]string{
		"?q=" + url.QueryEscape("x' OR 1=1"):           "letters, digits, spaces and - _ . : / # only",
		"?stage=nonsense":                              "There is no stage “nonsense”",
		"?view=finished&page=" + url.QueryEscape("!!"): "That page link is not valid",
	} {
		p := a.get(t, b, ConsolePath+q)
		require.Equal(t, http.StatusBadRequest, p.status, q)
		require.Contains(t, p.body, want, q)
	}
	require.Len(t, a.con.seen(), before)
}

func TestConsoleFinishedOrders(t *testing.T) {
	a := newConsoleAPI(t)
	closed := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	a.con.rows = func(f starter.OrderFilter) []starter.OrderRow {
		if !f.Finished {
			return nil
		}
		return []starter.OrderRow{{TransactionID: "t9", LoanNumber: "L-DONE", Stage: workflows.StageFailed, Status: "Completed", ClosedAt: closed}}
	}
	b := a.signedIn(t, "Ada")
	p := a.get(t, b, ConsolePath+"?view=finished")
	require.Equal(t, http.StatusOK, p.status)
	require.Equal(t, []string{"L-DONE"}, loans(p.body))
	require.Contains(t, p.body, `<span class="stage stage-failed">Failed</span>`)
	require.Contains(t, p.body, "Wed 1 Jul 2026 14:00 UTC")
	require.Contains(t, p.body, `aria-current="page">Finished`)
}

// orderHistory is a short history of an Appraisal: started, acknowledged, scheduled by Grace.
func orderHistory(t *testing.T) starter.OrderHistory {
	t.Helper()
	at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	js := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	return starter.OrderHistory{
		WorkflowID: workflows.TransactionWorkflowID(txID), RunID: "run-7", Status: "Running", StartedAt: at,
		Pending: []starter.PendingActivity{{ActivityID: "9", Type: workflows.ActivityPostEvent, Attempt: 4, LastFailure: "EPC answered 503"}},
		Events: []starter.Event{
			{ID: 1, Time: at, Type: "WorkflowExecutionStarted", Input: js(workflows.TransactionInput{TransactionID: txID, InstanceID: "3010000024"})},
			{ID: 2, Time: at, Type: "WorkflowExecutionSignaled", Name: workflows.SignalWebhook, Input: js(workflows.WebhookSignal{EventType: epc.WebhookCreated, ResourceType: epc.ResourceTransaction})},
			{ID: 5, Time: at, Type: "ActivityTaskScheduled", Name: workflows.ActivityPatchResponse, Summary: "acknowledge: processing",
				Input: js(activities.PatchInput{Patch: epc.Response{Status: "processing", PartnerStatus: "Order Received"}})},
			{ID: 6, Time: at, Type: "ActivityTaskStarted", ScheduledID: 5, Attempt: 3, Failure: "EPC answered 429"},
			{ID: 7, Time: at.Add(time.Second), Type: "ActivityTaskCompleted", ScheduledID: 5, Result: js(activities.PatchOutcome{Applied: true})},
			{ID: 8, Time: at.Add(2 * time.Second), Type: "ActivityTaskScheduled", Name: workflows.ActivityGatherData, Summary: "gather order data"},
			{ID: 9, Time: at.Add(3 * time.Second), Type: "ActivityTaskCompleted", ScheduledID: 8, Result: js(activities.OrderData{
				TxInfo:   activities.TxInfo{RequestType: "Appraisal", LoanNumber: "L-1", ClientID: "3010000024"},
				Property: activities.Property{StreetAddress: "1 Main St", City: "Pleasanton", State: "CA", PostalCode: "94588"}, CredentialsValid: true})},
			{ID: 10, Time: at.Add(4 * time.Second), Type: "UpsertWorkflowSearchAttributes", Attributes: map[string]any{"EpcStage": workflows.StageAwaitSchedule}},
			{ID: 11, Time: at.Add(time.Hour), Type: "WorkflowExecutionUpdateAccepted", Name: workflows.UpdateSchedule,
				Input: js(workflows.ScheduleInput{InspectionAt: at.Add(48 * time.Hour), Appraiser: "Scott Cooper", Actor: "Grace Hopper"})},
			{ID: 12, Time: at.Add(time.Hour), Type: "ActivityTaskScheduled", Name: workflows.ActivityPostEvent, ActivityID: "9", Summary: "post inspection scheduled"},
		},
	}
}

func TestConsoleOrderPage(t *testing.T) {
	a := newConsoleAPI(t)
	a.con.history = orderHistory(t)
	inspection := time.Date(2026, 7, 3, 9, 0, 0, 0, time.UTC)
	a.eng.setStatus(workflows.Status{TransactionID: txID, LoanNumber: "L-1", RequestType: "Appraisal", Stage: workflows.StageAwaitReport,
		DueAt: inspection, Inspection: &workflows.ScheduleInput{InspectionAt: inspection, Appraiser: "Scott Cooper", Actor: "Grace Hopper"},
		Events: []workflows.EventRecord{{ID: "ev-1", Text: "Inspection Scheduled", At: inspection, Actor: "Grace Hopper"}}})
	b := a.signedIn(t, "Ada")
	p := a.get(t, b, ConsolePath+"orders/"+txID)
	require.Equal(t, http.StatusOK, p.status)
	text := regexp.MustCompile(`\s+`).ReplaceAllString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(p.body, " "), " ")
	for _, want := range []string{
		"Loan L-1", "Deliver the report", // heading, stage
		"Order received", "EPC: the lender placed the order",
		"PATCH response: processing", "status processing; partner status “Order Received”", "3 attempts; the last error before: EPC answered 429",
		"Inspection scheduled by Grace Hopper", "with Scott Cooper",
		"Post inspection scheduled: under way", "attempt 4", "EPC answered 503", // being retried
		"What the lender asked", "1 Main St, Pleasanton, CA 94588", "valid",
		"Inspection Scheduled by Grace Hopper",
	} {
		require.Contains(t, text, want)
	}
	require.Contains(t, p.body, `href="http://ui.example:8233/namespaces/default/workflows/epc-transaction-`+txID+`/run-7/history"`)
	require.Contains(t, p.body, `id="deliver"`)
	require.NotContains(t, p.body, `id="schedule"`, "already scheduled: no schedule form")

	// Unknown and invalid ids.
	a.con.err = fmt.Errorf("describe: %w", starter.ErrNotFound)
	p = a.get(t, b, ConsolePath+"orders/nope")
	require.Equal(t, http.StatusNotFound, p.status)
	require.Contains(t, p.body, "Transaction nope was not found.")
	p = a.get(t, b, ConsolePath+"orders/"+url.PathEscape("bad id!"))
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "That is not a transaction id")
}

// reportForm is the deliver form as the page's script sends it: a PDF and the value.
func reportForm(t *testing.T, value string) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("report", "r.pdf")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("%PDF-1.4 report"))
	require.NoError(t, mw.WriteField("appraisedValue", value))
	require.NoError(t, mw.Close())
	return &body, mw.FormDataContentType()
}

func TestConsoleActionsRecordWhoActed(t *testing.T) {
	a := newConsoleAPI(t)
	b := a.signedIn(t, "Ada Lovelace")
	order := ConsolePath + "orders/" + txID
	token := csrf(t, a.get(t, b, order))

	p := a.post(t, b, order+"/schedule", url.Values{"csrf": {token}, "at": {"2030-07-01T10:00"}, "tz": {"America/Los_Angeles"}, "appraiser": {"Scott Cooper"}, "comments": {"Gate 4412"}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	require.Equal(t, order, p.header.Get("Location"))
	p = a.post(t, b, order+"/progress", url.Values{"csrf": {token}, "text": {"On site"}, "comments": {"Report Friday"}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	calls := a.eng.recorded()
	require.Equal(t, workflows.ScheduleInput{InspectionAt: time.Date(2030, 7, 1, 17, 0, 0, 0, time.UTC), Appraiser: "Scott Cooper", Comments: "Gate 4412", Actor: "Ada Lovelace"},
		workflows.ScheduleInput{InspectionAt: calls.schedules[0].in.InspectionAt.UTC(), Appraiser: calls.schedules[0].in.Appraiser, Comments: calls.schedules[0].in.Comments, Actor: calls.schedules[0].in.Actor})
	require.Equal(t, workflows.ProgressInput{Text: "On site", Comments: "Report Friday", Actor: "Ada Lovelace"}, calls.progresses[0].in)
	// The workflow's answer is shown once, on the order.
	p = a.get(t, b, order)
	require.Contains(t, p.body, `<p class="flash" id="flash" role="status" >Done.</p>`)
	require.NotContains(t, a.get(t, b, order).body, "Done.")

	// The report, as the page's script sends it: the session's actor, whatever the request says.
	body, contentType := reportForm(t, "512000")
	p = a.send(t, b, http.MethodPost, order+"/deliver", body, map[string]string{
		"Content-Type": contentType, CSRFHeader: token, ActorHeader: "Mallory", "Origin": a.srv.URL,
	})
	require.Equal(t, http.StatusOK, p.status, p.body)
	d := a.eng.recorded().delivers[0].in
	require.Equal(t, "Ada Lovelace", d.Actor)
	require.EqualValues(t, 512000, d.AppraisedValue)
}

func TestConsoleRefusalsShownOnTheForm(t *testing.T) {
	a := newConsoleAPI(t)
	b := a.signedIn(t, "Ada")
	order := ConsolePath + "orders/" + txID
	token := csrf(t, a.get(t, b, order))

	// Invalid input: 400, each problem at its field, the values kept; nothing sent.
	p := a.post(t, b, order+"/schedule", url.Values{"csrf": {token}, "at": {"next tuesday"}, "appraiser": {strings.Repeat("x", 201)}, "comments": {"keep me"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "The inspection is not scheduled: see below.")
	require.Contains(t, p.body, "Date and time: must be a date and time, e.g. 2026-07-01T14:00")
	require.Contains(t, p.body, "Appraiser: must be at most 200 characters")
	require.Contains(t, p.body, ">keep me</textarea>")
	p = a.post(t, b, order+"/schedule", url.Values{"csrf": {token}, "at": {"2030-07-01T10:00"}, "tz": {"Mars/Olympus"}})
	require.Contains(t, p.body, "unknown time zone “Mars/Olympus”")
	p = a.post(t, b, order+"/progress", url.Values{"csrf": {token}, "text": {"  "}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "Note: required (not blank)")
	require.Empty(t, a.eng.recorded().schedules)

	// The workflow's validator refuses: 409, its reason on the form it came from.
	a.eng.setStatus(workflows.Status{Stage: workflows.StageAwaitReport, RequestType: "Appraisal", Inspection: &workflows.ScheduleInput{}})
	a.eng.setErr(fmt.Errorf("%w: the inspection is already scheduled for 2030-07-01 17:00 UTC", starter.ErrRejected))
	p = a.post(t, b, order+"/schedule", url.Values{"csrf": {token}, "at": {"2030-07-01T10:00"}})
	require.Equal(t, http.StatusConflict, p.status)
	schedule := p.body[strings.Index(p.body, `id="schedule"`):]
	require.Contains(t, schedule[:strings.Index(schedule, "</section>")], "Refused: the inspection is already scheduled for 2030-07-01 17:00 UTC.")

	// The script's upload gets the API's error body for the same refusal.
	body, contentType := reportForm(t, "1")
	p = a.send(t, b, http.MethodPost, order+"/deliver", body, map[string]string{"Content-Type": contentType, CSRFHeader: token})
	require.Equal(t, http.StatusConflict, p.status)
	require.Contains(t, decodeErrorBody(t, p.status, []byte(p.body)).Message, "already scheduled")

	// The engine down: 503, said on the form.
	a.eng.setErr(fmt.Errorf("%w: connection refused", starter.ErrUnavailable))
	p = a.post(t, b, order+"/progress", url.Values{"csrf": {token}, "text": {"x"}})
	require.Equal(t, http.StatusServiceUnavailable, p.status)
	require.Contains(t, p.body, "The workflow engine is unavailable; try again shortly.")
}

func TestConsoleSessionsPage(t *testing.T) {
	a := newConsoleAPI(t)
	opened := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	a.con.packages = []starter.PackageRow{{
		SessionRow: starter.SessionRow{ID: "inst-1/loans/loan%2Fguid/pkg-1", Status: "Running"},
		State: workflows.PackageStatus{Recipients: []workflows.RecipientStatus{
			{RecipientID: "r1", Role: pos.RoleBorrower, Opened: true, OpenedAt: &opened}, {RecipientID: "r2", Role: pos.RoleCoBorrower},
		}},
	}}
	a.con.payments = []starter.PaymentRow{{SessionRow: starter.SessionRow{ID: "pay-1", Status: "Completed"}, State: workflows.PaymentStatus{Status: pos.StatusCompleted, Callbacks: 2}}}
	b := a.signedIn(t, "Ada")
	p := a.get(t, b, ConsolePath+"sessions")
	require.Equal(t, http.StatusOK, p.status)
	text := regexp.MustCompile(`\s+`).ReplaceAllString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(p.body, " "), " ")
	for _, want := range []string{"pkg-1", "loan/guid", "1 of 2", "opened", "not yet", "waiting for recipients", "pay-1", string(pos.StatusCompleted)} {
		require.Contains(t, text, want)
	}
}

func TestActorHeaderOnTheJSONAPI(t *testing.T) {
	a := newTestAPI(t)
	ok := a.postJSON(t, "/v1/transactions/"+txID+"/events", `{"text":"on site"}`, map[string]string{ActorHeader: "  Grace Hopper "})
	require.Equal(t, http.StatusOK, ok.status, string(ok.body))
	require.Equal(t, "Grace Hopper", a.eng.recorded().progresses[0].in.Actor)
	ok = a.postJSON(t, "/v1/transactions/"+txID+"/schedule", `{"inspectionAt":"2030-07-01T10:00:00Z"}`, nil)
	require.Equal(t, http.StatusOK, ok.status)
	require.Empty(t, a.eng.recorded().schedules[0].in.Actor, "no actor named: none recorded")
	for _, v := range []string{"   ", "bad\u200bname", strings.Repeat("é", 201)} {
		r := a.postJSON(t, "/v1/transactions/"+txID+"/schedule", `{"inspectionAt":"2030-07-01T10:00:00Z"}`, map[string]string{ActorHeader: v})
		require.Equal(t, http.StatusBadRequest, r.status, "%q", v)
		require.Contains(t, r.errorBody(t).Message, "header "+ActorHeader)
	}
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/v1/transactions/"+txID+"/events", strings.NewReader(`{"text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add(ActorHeader, "Ada")
	req.Header.Add(ActorHeader, "Grace")
	resp, err := a.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "two actors")
	require.Len(t, a.eng.recorded().schedules, 1)
}
