package demo

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/epcflow/epcflow/internal/wait"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/workflows"
)

// Config configures the demo.
type Config struct {
	Lender   *Lender
	Operator *Operator
	Logger   *slog.Logger
	// Orders of each product to place (default 3 Appraisals, 3 FloodCertifications).
	Appraisals, Floods int
	// ScheduleAfter and DeliverAfter are the simulated appraiser's delays (default 5s and 20s).
	ScheduleAfter, DeliverAfter time.Duration
	// LeaveOpen is how many Appraisals the appraiser leaves waiting, so the UI shows work in
	// flight (default 1).
	LeaveOpen int
	// FirstFlood and FirstAppraisal number the first loan of each product (DEMO-FLOOD-001 …;
	// default 1): a later batch on the same stack continues where the last one stopped.
	FirstFlood, FirstAppraisal int
	// Placed, when set, is told the orders once they are all placed, before the appraiser
	// works them.
	Placed func([]Placed)
}

// Placed is an order the demo placed.
type Placed struct {
	ID, LoanNumber, RequestType string
	// Worked: the simulated appraiser works it (FloodCertifications work themselves); an
	// Appraisal left open waits for the operator.
	Worked bool
}

// LoanNumber is the demo's loan number n of a product.
func LoanNumber(requestType string, n int) string {
	if requestType == workflows.TypeAppraisal {
		return fmt.Sprintf("DEMO-APPR-%03d", n)
	}
	return fmt.Sprintf("DEMO-FLOOD-%03d", n)
}

// Run places the demo orders and plays the appraiser until every order it works is done or
// ctx ends. It returns the transaction ids it placed.
func Run(ctx context.Context, cfg Config) ([]string, error) {
	if cfg.Appraisals == 0 && cfg.Floods == 0 {
		cfg.Appraisals, cfg.Floods = 3, 3
	}
	cfg.ScheduleAfter = cmp.Or(cfg.ScheduleAfter, 5*time.Second)
	cfg.DeliverAfter = cmp.Or(cfg.DeliverAfter, 20*time.Second)
	cfg.LeaveOpen = cmp.Or(cfg.LeaveOpen, 1)
	cfg.FirstFlood, cfg.FirstAppraisal = max(cfg.FirstFlood, 1), max(cfg.FirstAppraisal, 1)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var ids []string
	var placed []Placed
	var work []Placed
	var wg sync.WaitGroup
	streets := []string{"4430 Rosewood Dr", "1 Harbor Way", "77 Levee Rd", "12 Hilltop Ct", "950 Bay St", "5 River Bend"}
	for i := range cfg.Floods {
		loan := LoanNumber(workflows.TypeFloodCertification, cfg.FirstFlood+i)
		o, err := cfg.Lender.PlaceOrder(ctx, SampleOrder(workflows.TypeFloodCertification, loan, streets[i%len(streets)]))
		if err != nil {
			return ids, fmt.Errorf("place flood order: %w", err)
		}
		ids = append(ids, o.ID)
		placed = append(placed, Placed{ID: o.ID, LoanNumber: loan, RequestType: workflows.TypeFloodCertification, Worked: true})
		log.Info("demo: flood order placed", "transactionId", o.ID)
	}
	for i := range cfg.Appraisals {
		loan := LoanNumber(workflows.TypeAppraisal, cfg.FirstAppraisal+i)
		o, err := cfg.Lender.PlaceOrder(ctx, SampleOrder(workflows.TypeAppraisal, loan, streets[(i+3)%len(streets)]))
		if err != nil {
			return ids, fmt.Errorf("place appraisal order: %w", err)
		}
		ids = append(ids, o.ID)
		log.Info("demo: appraisal order placed", "transactionId", o.ID)
		// The last ones are left waiting for the appraiser, to show an order in flight.
		p := Placed{ID: o.ID, LoanNumber: loan, RequestType: workflows.TypeAppraisal, Worked: i < cfg.Appraisals-cfg.LeaveOpen}
		placed = append(placed, p)
		if p.Worked {
			work = append(work, p)
		}
	}
	if cfg.Placed != nil {
		cfg.Placed(placed)
	}
	for i, p := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Appraise(ctx, cfg.Operator, p.ID, cfg.ScheduleAfter, cfg.DeliverAfter, int64(400000+25000*i)); err != nil && ctx.Err() == nil {
				log.Warn("demo appraiser", "transactionId", p.ID, "error", err)
			}
		}()
	}
	wg.Wait()
	return ids, nil
}

// Appraise plays the appraiser on one order: schedule, then deliver a report.
func Appraise(ctx context.Context, op *Operator, id string, scheduleAfter, deliverAfter time.Duration, value int64) error {
	if err := ScheduleInspection(ctx, op, id, scheduleAfter); err != nil {
		return err
	}
	if err := sleep(ctx, jitter(deliverAfter)); err != nil {
		return err
	}
	_, err := op.Deliver(ctx, id, SampleReport(id, value), value)
	return err
}

// ScheduleInspection plays the appraiser's first step on one order: once the order awaits
// it, schedule the inspection (after about after), and wait until the order awaits the report.
func ScheduleInspection(ctx context.Context, op *Operator, id string, after time.Duration) error {
	if _, err := op.WaitStage(ctx, id, workflows.StageAwaitSchedule); err != nil {
		return err
	}
	if err := sleep(ctx, jitter(after)); err != nil {
		return err
	}
	if _, err := op.Schedule(ctx, id, time.Now().Add(48*time.Hour).Truncate(time.Hour), "Scott Cooper"); err != nil {
		return err
	}
	_, err := op.WaitStage(ctx, id, workflows.StageAwaitReport)
	return err
}

// SampleReport renders a small appraisal report PDF.
func SampleReport(id string, value int64) []byte {
	return activities.RenderPDF([]string{
		"UNIFORM RESIDENTIAL APPRAISAL REPORT (demo)",
		"",
		"EPC transaction: " + id,
		fmt.Sprintf("Appraised value: $%d", value),
		"Appraiser: Scott Cooper",
	})
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)+1)) // demo pacing only; not workflow code
}

func sleep(ctx context.Context, d time.Duration) error { return wait.For(ctx, d) }
