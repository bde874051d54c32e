package api

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// How the console words and formats what it shows.

// consoleFuncs are the templates' functions.
var consoleFuncs = template.FuncMap{
	"iso":        formatISO,
	"when":       func(t time.Time) string { return formatWhen(t, time.UTC) },
	"bytes":      formatBytes,
	"dollars":    formatDollars,
	"stageTitle": stageTitle,
	"orderURL":   orderURL,
}

// formatISO is a time for the page's script; empty for none, as formatWhen.
func formatISO(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// formatWhen is a time for people, in loc; the page's script rewrites it in the browser's
// own zone.
func formatWhen(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
}

// formatAge is how long ago t was, to the two largest units.
func formatAge(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return ""
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
}

// formatDollars writes whole dollars with thousands separators: $500,000.
func formatDollars(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return "$" + s
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// orderURL is the console page of a transaction.
func orderURL(transactionID string) string {
	return ConsolePath + "orders/" + url.PathEscape(transactionID)
}

// orderView is one order on the queue or the finished list.
type orderView struct {
	ID, URL                                  string
	LoanNumber, Product, RequestType, Lender string
	Stage, StageTitle, PartnerStatus, Status string
	Started, Closed                          time.Time
	Age                                      string
	// Due says what falls due when, for this order's stage; Overdue when that has passed.
	Due     string
	DueAt   time.Time
	Overdue bool
}

func newOrderView(r starter.OrderRow, now time.Time) orderView {
	v := orderView{
		ID: r.TransactionID, URL: orderURL(r.TransactionID), LoanNumber: r.LoanNumber, Product: r.Product,
		RequestType: r.RequestType, Lender: r.ClientID, Stage: r.Stage, StageTitle: stageTitle(r.Stage),
		PartnerStatus: r.PartnerStatus, Status: r.Status, Started: r.StartedAt, Closed: r.ClosedAt,
		Age: formatAge(now, r.StartedAt), DueAt: r.DueAt,
	}
	v.Due, v.Overdue = dueText(r.Stage, r.DueAt, now)
	return v
}

// dueText words EpcDueAt for a stage (see workflows.SADueAt).
func dueText(stage string, due, now time.Time) (string, bool) {
	if due.IsZero() {
		return "", false
	}
	past := !now.Before(due)
	switch stage {
	case workflows.StageInputRequired:
		if past {
			return "the lender's deadline has passed", true
		}
		return "lender's input due in " + formatAge(due, now), false
	case workflows.StageAwaitReport:
		if past {
			return "inspected " + formatAge(now, due) + " ago: the report is next", false
		}
		return "inspection in " + formatAge(due, now), false
	}
	return "", false
}

// option is an entry of a filter's select.
type option struct {
	Value, Label string
	Selected     bool
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// joinNonEmpty joins the parts that are not blank with sep.
func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
