package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// FuzzConsoleSessionCookie: no cookie value but one this console made signs anyone in, and
// none makes it panic.
func FuzzConsoleSessionCookie(f *testing.F) {
	keys := newSessionKeys(consoleToken, "")
	good := keys.encode(consoleSess{ID: "s1", Actor: "Ada", Mode: modeToken, Expires: time.Now().Add(time.Hour)})
	for _, s := range []string{good, good + "x", "x" + good, strings.Replace(good, ".", "..", 1), ".", "", "a.b.c",
		strings.Repeat("A", 5000) + ".x", b64.EncodeToString([]byte("s|99999999999|token|QWRh")) + "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, ok := keys.decode(v, modeToken, time.Now())
		if ok && v != good {
			t.Fatalf("forged cookie %q accepted as %+v", v, s)
		}
	})
}

// FuzzConsoleQueue sends arbitrary search, filter and page parameters to the queue through
// the real router: never a panic nor a 5xx, and what reaches visibility is always a query
// that only says what the operator asked for.
func FuzzConsoleQueue(f *testing.F) {
	a := newConsoleAPI(f)
	a.con.rows = func(starter.OrderFilter) []starter.OrderRow {
		return []starter.OrderRow{{TransactionID: "t1", LoanNumber: "<b>L</b>", Stage: workflows.StageAwaitSchedule}}
	}
	b := a.signedIn(f, "Ada")
	for _, s := range [][4]string{
		{"LN-2026", "", "", ""}, {"x' OR 1=1", "", "", ""}, {"", "awaiting-report", "Appraisal", ""}, {"", "nonsense", "", ""},
		{"", "", "Flood')", ""}, {"", "", "", "finished"}, {"é", "completed", "", "finished"}, {strings.Repeat("9", 200), "", "", ""},
		{"\x00", "\n", "\\", "x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, q, stage, typ, view string) {
		v := url.Values{"q": {q}, "stage": {stage}, "type": {typ}, "view": {view}}
		p := a.get(t, b, ConsolePath+"?"+v.Encode())
		if p.status != http.StatusOK && p.status != http.StatusBadRequest {
			t.Fatalf("%v: status %d", v, p.status)
		}
		if strings.Contains(p.body, "<b>L</b>") {
			t.Fatal("an order's field reached the page unescaped")
		}
		for _, flt := range a.con.seen() {
			if _, err := flt.Query(); err != nil {
				t.Fatalf("%v reached visibility: %v", flt, err)
			}
		}
	})
}

// FuzzConsoleSchedule sends arbitrary form values to the schedule action: never a panic nor a
// 5xx; the workflow sees only a time and bounded strings, and the signed-in actor.
func FuzzConsoleSchedule(f *testing.F) {
	a := newConsoleAPI(f)
	b := a.signedIn(f, "Ada")
	token := csrf(f, a.get(f, b, ConsolePath+"orders/"+txID))
	for _, s := range [][4]string{
		{"2030-07-01T10:00", "America/Los_Angeles", "Scott", ""}, {"2030-07-01T10:00:00Z", "", "", ""}, {"0001-01-01T00:00", "UTC", "", ""},
		{"", "", "", ""}, {"tomorrow", "../../etc/passwd", "", ""}, {"2030-13-40T99:99", "Local", strings.Repeat("x", 300), ""},
		{"2030-07-01T10:00", "Europe/Tallinn", "\x00", "é"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, at, tz, appraiser, comments string) {
		p := a.post(t, b, ConsolePath+"orders/"+txID+"/schedule", url.Values{"csrf": {token}, "at": {at}, "tz": {tz}, "appraiser": {appraiser}, "comments": {comments}})
		if p.status != http.StatusSeeOther && p.status != http.StatusBadRequest {
			t.Fatalf("at %q tz %q: status %d", at, tz, p.status)
		}
		for _, c := range a.eng.recorded().schedules {
			if c.in.InspectionAt.IsZero() || c.in.Actor != "Ada" || len([]rune(c.in.Appraiser)) > maxNameLen {
				t.Fatalf("the workflow got %+v", c.in)
			}
		}
	})
}
