package api

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The work queue: open orders grouped by what each waits for, read from visibility (a list
// and a count per group); search by loan number or transaction id; filters by stage and
// request type; the finished orders, newest first, a page at a time.

// queueGroup is what a group of open orders waits for.
type queueGroupDef struct {
	Title, Hint string
	Stages      []string
}

var queueGroups = []queueGroupDef{
	{"Schedule the inspection", "Appraisals waiting for an appointment with the appraiser.", []string{workflows.StageAwaitSchedule}},
	{"Deliver the report", "Inspections scheduled: the report and the appraised value are next.", []string{workflows.StageAwaitReport}},
	{"Waiting for the lender's input", "epcflow asked the lender for missing data; the order fails if none comes by the deadline.", []string{workflows.StageInputRequired}},
	{"epcflow is working", "Nothing to do: these move on by themselves (a step being retried shows on the order's page).", []string{
		workflows.StageReceived, workflows.StageAcknowledged, workflows.StageGathering, workflows.StageWorking,
		workflows.StageServiceEvents, workflows.StageUploading, workflows.StageCompleting,
	}},
}

// finishedStages are the stages a finished order ends at.
var finishedStages = []string{workflows.StageCompleted, workflows.StageFailed, workflows.StageCanceled, workflows.StageClosedByOthers}

// maxPageToken bounds a page token from the query string (Temporal's are far smaller).
const maxPageToken = 4096

// queueGroup is a group as shown.
type queueGroup struct {
	queueGroupDef
	Filter string // the queue filtered to this group's stage, when it has one
	Count  int64
	Rows   []orderView
}

// queueView is the queue page.
type queueView struct {
	Q, Stage, Type string
	Finished       bool
	StageOptions   []option
	TypeOptions    []option
	Error          string
	Groups         []queueGroup
	Open           int64
	// FinishedRows are the finished orders (the finished view, or a search's matches).
	FinishedRows []orderView
	NextPage     string // the finished list's next page, as a URL
}

// queue is GET /console/: ?q= (loan number or transaction id, or their start), ?stage=,
// ?type= (request type), ?view=finished, ?page= (the finished list's page token).
func (h *console) queue(c *gin.Context) {
	v := queueView{Q: strings.TrimSpace(c.Query("q")), Stage: c.Query("stage"), Type: c.Query("type"), Finished: c.Query("view") == "finished"}
	v.StageOptions, v.TypeOptions = stageOptions(v.Stage, v.Finished), typeOptions(v.Type)
	var token []byte
	if p := c.Query("page"); p != "" {
		t, err := b64.DecodeString(p)
		if err != nil || len(p) > maxPageToken {
			v.Error = "That page link is not valid: start again from the first page."
		}
		token = t
	}
	f := starter.OrderFilter{Finished: v.Finished, RequestType: v.Type, Search: v.Q}
	if v.Stage != "" {
		if !slices.ContainsFunc(v.StageOptions, func(o option) bool { return o.Value == v.Stage && o.Value != "" }) {
			v.Error = "There is no stage " + quoteForPeople(v.Stage) + " among the " + map[bool]string{true: "finished", false: "open"}[v.Finished] + " orders' stages."
		}
		f.Stages = []string{v.Stage}
	}
	if _, err := f.Query(); err != nil {
		v.Error = "Search and filters take letters, digits, spaces and - _ . : / # only, at most 128 characters."
	}
	title := "Work queue"
	if v.Finished {
		title = "Finished orders"
	}
	if v.Error != "" {
		h.render(c, http.StatusBadRequest, "queue", pageData{Title: title, Nav: navOf(v.Finished), Content: v})
		return
	}
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	now := time.Now()
	var err error
	if v.Finished {
		err = h.finished(c, &v, f, token, now)
	} else {
		err = h.openGroups(c, &v, f, now)
	}
	if err == nil && !v.Finished && v.Q != "" {
		// A search looks among the finished orders too.
		f.Finished = true
		var page starter.OrderPage
		if page, err = h.cfg.Engine.Orders(ctx, f, h.cfg.PageSize, nil); err == nil {
			v.FinishedRows = orderViews(page.Rows, now)
		}
	}
	if err != nil {
		h.engineFailure(c, "the orders", err)
		return
	}
	h.render(c, http.StatusOK, "queue", pageData{Title: title, Nav: navOf(v.Finished), Content: v})
}

func navOf(finished bool) string {
	if finished {
		return "finished"
	}
	return "queue"
}

// openGroups fills the queue's groups: for each group (only the filter's, when a stage is
// chosen), a count and the first page, all at once.
func (h *console) openGroups(c *gin.Context, v *queueView, f starter.OrderFilter, now time.Time) error {
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	for _, g := range queueGroups {
		if v.Stage != "" && !slices.Contains(g.Stages, v.Stage) {
			continue
		}
		qg := queueGroup{queueGroupDef: g}
		if len(g.Stages) == 1 {
			qg.Filter = ConsolePath + "?stage=" + g.Stages[0]
		}
		v.Groups = append(v.Groups, qg)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := range v.Groups {
		gf := f
		if v.Stage == "" {
			gf.Stages = v.Groups[i].Stages
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			n, err := h.cfg.Engine.CountOrders(ctx, gf)
			mu.Lock()
			defer mu.Unlock()
			v.Groups[i].Count, errs = n, append(errs, err)
		}()
		go func() {
			defer wg.Done()
			page, err := h.cfg.Engine.Orders(ctx, gf, h.cfg.PageSize, nil)
			rows := orderViews(page.Rows, now)
			// Most urgent first: what falls due soonest, then the oldest.
			sort.SliceStable(rows, func(a, b int) bool {
				ra, rb := rows[a], rows[b]
				if ra.DueAt.IsZero() != rb.DueAt.IsZero() {
					return !ra.DueAt.IsZero()
				}
				if !ra.DueAt.Equal(rb.DueAt) {
					return ra.DueAt.Before(rb.DueAt)
				}
				return ra.Started.Before(rb.Started)
			})
			mu.Lock()
			defer mu.Unlock()
			v.Groups[i].Rows, errs = rows, append(errs, err)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, g := range v.Groups {
		v.Open += g.Count
	}
	return nil
}

// finished fills the finished list's page.
func (h *console) finished(c *gin.Context, v *queueView, f starter.OrderFilter, token []byte, now time.Time) error {
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	page, err := h.cfg.Engine.Orders(ctx, f, h.cfg.PageSize, token)
	if err != nil {
		return err
	}
	v.FinishedRows = orderViews(page.Rows, now)
	if len(page.Next) > 0 {
		q := c.Request.URL.Query()
		q.Set("page", b64.EncodeToString(page.Next))
		v.NextPage = ConsolePath + "?" + q.Encode()
	}
	return nil
}

func orderViews(rows []starter.OrderRow, now time.Time) []orderView {
	out := make([]orderView, 0, len(rows))
	for _, r := range rows {
		out = append(out, newOrderView(r, now))
	}
	return out
}

// stageOptions lists the stages of open (or finished) orders for the stage filter.
func stageOptions(selected string, finished bool) []option {
	out := []option{{Value: "", Label: "Any stage", Selected: selected == ""}}
	stages := finishedStages
	if !finished {
		stages = nil
		for _, g := range queueGroups {
			stages = append(stages, g.Stages...)
		}
	}
	for _, s := range stages {
		out = append(out, option{Value: s, Label: s, Selected: s == selected})
	}
	return out
}

// typeOptions lists the request types epcflow offers for the product filter.
func typeOptions(selected string) []option {
	out := []option{{Value: "", Label: "Any product", Selected: selected == ""}}
	var types []string
	for t := range workflows.DefaultProducts() {
		types = append(types, t)
	}
	sort.Strings(types)
	if selected != "" && !slices.Contains(types, selected) {
		types = append(types, selected)
	}
	for _, t := range types {
		out = append(out, option{Value: t, Label: t, Selected: t == selected})
	}
	return out
}

// quoteForPeople quotes a value from the request for a message, bounded.
func quoteForPeople(s string) string { return "“" + truncate(s, 64) + "”" }
