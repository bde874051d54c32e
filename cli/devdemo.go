//go:build !production

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/internal/atomicfile"
	"github.com/epcflow/epcflow/workflows"
)

// demoRecordFile, in dev's data directory, says which demo orders were placed there: they are
// placed once per data directory, and a later batch continues their loan numbers.
const demoRecordFile = "demo.json"

type demoRecord struct {
	Floods     int       `json:"floods"`
	Appraisals int       `json:"appraisals"`
	PlacedAt   time.Time `json:"placedAt"`
	// Waiting are the Appraisals left for the operator.
	Waiting []demo.Placed `json:"waiting,omitempty"`
}

// devDemo is the demo of one `dev` start.
type devDemo struct {
	e                *env
	out              io.Writer // the banner's writer, shared with the rest of dev
	dataDir          string
	keep             bool // the data directory keeps the stack (not --db :memory:)
	first            bool // --demo: place the first batch unless placed before
	more             int  // --demo-orders: a batch of this many of each product now
	apiURL, sbURL    string
	consoleURL       string
	token            string
	log              *slog.Logger
	mu               sync.Mutex // out is written from the demo's goroutine too
	tokenNotExported bool
}

func (d *devDemo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// run places a batch if one is due, and plays the appraiser on it; with orders placed at an
// earlier start and none asked for, it names the ones still waiting for the operator.
func (d *devDemo) run(ctx context.Context) {
	var rec demoRecord
	placedBefore := false
	if d.keep {
		var err error
		if rec, placedBefore, err = readDemoRecord(d.dataDir); err != nil {
			d.log.Warn("demo: record unreadable, placing no demo orders", "error", err)
			return
		}
	}
	lender := demo.NewLender(d.sbURL)
	if d.keep && !placedBefore && d.more == 0 {
		// A data directory of a version that kept no record: its first start placed the
		// demo's three orders of each product already, if its sandbox holds any order.
		if txs, err := lender.Transactions(ctx); err == nil && len(txs) > 0 {
			rec, placedBefore = demoRecord{Floods: 3, Appraisals: 3}, true
			if err := writeDemoRecord(d.dataDir, rec); err != nil {
				d.log.Warn("demo: cannot record the orders placed", "error", err)
			}
		}
	}
	n := d.more
	if n == 0 && d.first && !placedBefore {
		n = 3
	}
	op := demoOperator(d.apiURL, d.token)
	if n == 0 {
		if placedBefore {
			d.printf("\ndemo: orders placed at an earlier start (%s), not placed again; --demo-orders N places N more of each product\n",
				filepath.Join(d.dataDir, demoRecordFile))
			d.stillWaiting(ctx, op, rec.Waiting)
		}
		return
	}
	cfg := demo.Config{
		Lender: lender, Operator: op, Logger: d.log,
		Appraisals: n, Floods: n, FirstFlood: rec.Floods + 1, FirstAppraisal: rec.Appraisals + 1,
	}
	cfg.Placed = func(placed []demo.Placed) {
		var waiting []demo.Placed
		for _, p := range placed {
			if !p.Worked {
				waiting = append(waiting, p)
			}
		}
		if d.keep {
			next := demoRecord{Floods: rec.Floods + n, Appraisals: rec.Appraisals + n, PlacedAt: time.Now().UTC().Truncate(time.Second), Waiting: append(rec.Waiting, waiting...)}
			if err := writeDemoRecord(d.dataDir, next); err != nil {
				d.log.Warn("demo: cannot record the orders placed: the next start places them again", "error", err)
			}
		}
		d.printf("\ndemo: placed %s and %s; a simulated appraiser works %d of the Appraisals (about a minute)\n",
			loanRange(workflows.TypeFloodCertification, cfg.FirstFlood, n), loanRange(workflows.TypeAppraisal, cfg.FirstAppraisal, n), n-len(waiting))
		for _, p := range waiting {
			d.waiting(p, workflows.StageAwaitSchedule)
		}
	}
	if _, err := demo.Run(ctx, cfg); err != nil && ctx.Err() == nil {
		d.log.Warn("demo stopped", "error", err)
		return
	}
	if ctx.Err() == nil {
		d.printf("demo: the simulated appraiser is done\n")
	}
}

// stillWaiting names the Appraisals an earlier start left for the operator that still wait.
func (d *devDemo) stillWaiting(ctx context.Context, op *demo.Operator, waiting []demo.Placed) {
	for _, p := range waiting {
		st, err := d.statusSoon(ctx, op, p.ID)
		if err != nil {
			d.log.Debug("demo: status of a waiting order", "transactionId", p.ID, "error", err)
			continue
		}
		switch {
		case st.Closed || st.Report != nil:
		case st.Inspection != nil: // scheduled (its stage follows once the lender is told)
			d.waiting(p, workflows.StageAwaitReport)
		default:
			d.waiting(p, workflows.StageAwaitSchedule)
		}
	}
}

// statusSoon reads an order's status, asking again while the stack is still starting: just
// after a restart the query waits for a worker to rebuild the workflow, which on a busy
// machine can outlast one try.
func (d *devDemo) statusSoon(ctx context.Context, op *demo.Operator, id string) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	wait := 250 * time.Millisecond
	for {
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := op.Status(qctx, id)
		qcancel()
		if err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// waiting tells what the operator does with an Appraisal left at stage, with commands that
// work as printed.
func (d *devDemo) waiting(p demo.Placed, stage string) {
	var b strings.Builder
	what := "schedule the inspection, then deliver the report"
	if stage == workflows.StageAwaitReport {
		what = "deliver the report"
	}
	fmt.Fprintf(&b, "demo: %s (%s, transaction %s) waits for the operator: %s, in the console (%s) or with\n",
		p.LoanNumber, p.RequestType, p.ID, what, d.consoleURL)
	if stage == workflows.StageAwaitSchedule {
		fmt.Fprintf(&b, "  %s\n", d.e.command(d.dataDir, "start", "schedule", "--id", p.ID))
	}
	fmt.Fprintf(&b, "  %s\n", d.e.command(d.dataDir, "start", "deliver", "--id", p.ID, "--value", "500000"))
	if d.tokenNotExported {
		b.WriteString("  (with EPCFLOW_OPERATOR_TOKEN exported in that shell: the API wants the operator token)\n")
	}
	d.printf("%s", b.String())
}

// loanRange is "DEMO-APPR-004…006" (or one loan number).
func loanRange(requestType string, first, n int) string {
	if n == 1 {
		return demo.LoanNumber(requestType, first)
	}
	return fmt.Sprintf("%s…%03d", demo.LoanNumber(requestType, first), first+n-1)
}

func readDemoRecord(dataDir string) (demoRecord, bool, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, demoRecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return demoRecord{}, false, nil
	}
	if err != nil {
		return demoRecord{}, false, err
	}
	var r demoRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return demoRecord{}, false, fmt.Errorf("%s: %w", filepath.Join(dataDir, demoRecordFile), err)
	}
	return r, true, nil
}

func writeDemoRecord(dataDir string, r demoRecord) error {
	return atomicfile.ReplaceJSON(filepath.Join(dataDir, demoRecordFile), r)
}
