package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/workflows"
)

// The operator console's reads: orders listed from Temporal's visibility store by their search
// attributes (never by asking every workflow), and one order's history
// (console_history.go); the Delivery Room packages and Inbank payment sessions with their
// state (console_sessions.go).

// Console reads what the operator console shows.
type Console struct {
	Client client.Client
	// DataConverter and FailureConverter decode payloads and failures read from histories:
	// those the client was dialled with (the codec's when payloads are encrypted); nil: the
	// SDK's defaults.
	DataConverter    converter.DataConverter
	FailureConverter converter.FailureConverter
}

// NewConsole returns a Console reading through c, decoding with dc and fc (nil: defaults).
func NewConsole(c client.Client, dc converter.DataConverter, fc converter.FailureConverter) *Console {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	if fc == nil {
		fc = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc})
	}
	return &Console{Client: c, DataConverter: dc, FailureConverter: fc}
}

// ErrBadFilter: a filter value that cannot be put in a visibility query.
var ErrBadFilter = errors.New("invalid filter")

// OrderFilter selects transactions in visibility.
type OrderFilter struct {
	// Finished lists closed orders (newest first) instead of open ones.
	Finished bool
	// Stages keeps orders at any of these stages (empty: every stage).
	Stages []string
	// RequestType keeps orders of this request type (EpcRequestType), e.g. Appraisal.
	RequestType string
	// Search keeps orders whose loan number or transaction id is Search, or starts with it.
	Search string
}

// Query is the visibility query of f.
func (f OrderFilter) Query() (string, error) {
	q := []string{"WorkflowType = " + quote(workflows.TransactionWorkflowName)}
	if f.Finished {
		q = append(q, "ExecutionStatus != 'Running'")
	} else {
		q = append(q, "ExecutionStatus = 'Running'")
	}
	for _, v := range append([]string{f.RequestType, f.Search}, f.Stages...) {
		if !quotable(v) {
			return "", fmt.Errorf("%w: %q: letters, digits, spaces and - _ . : / # only, at most 128", ErrBadFilter, v)
		}
	}
	if len(f.Stages) > 0 {
		var in []string
		for _, s := range f.Stages {
			in = append(in, quote(s))
		}
		q = append(q, workflows.SAStage.GetName()+" IN ("+strings.Join(in, ", ")+")")
	}
	if f.RequestType != "" {
		q = append(q, workflows.SARequestType.GetName()+" = "+quote(f.RequestType))
	}
	if s := f.Search; s != "" {
		loan, tx := workflows.SALoanNumber.GetName(), workflows.SATransactionID.GetName()
		q = append(q, fmt.Sprintf("(%s STARTS_WITH %s OR %s STARTS_WITH %s)", loan, quote(s), tx, quote(s)))
	}
	return strings.Join(q, " AND "), nil
}

// quotable admits what a console filter needs and nothing that could change a query's
// meaning: no quote, no backslash.
func quotable(v string) bool {
	if len(v) > 128 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" -_.:/#", r)) {
			return false
		}
	}
	return true
}

func quote(v string) string { return "'" + v + "'" }

// OrderRow is one transaction as visibility knows it.
type OrderRow struct {
	TransactionID, RunID                       string
	LoanNumber, Product, RequestType, ClientID string
	Stage, PartnerStatus                       string
	DueAt, StartedAt, ClosedAt                 time.Time
	// Status is the workflow's: Running, Completed, Failed, Terminated, …
	Status        string
	HistoryLength int64
}

// OrderPage is a page of OrderRows and the token of the next (nil: none).
type OrderPage struct {
	Rows []OrderRow
	Next []byte
}

// Orders lists a page of the orders f selects, at most size (visibility's order: the most
// recent first).
func (c *Console) Orders(ctx context.Context, f OrderFilter, size int, token []byte) (OrderPage, error) {
	q, err := f.Query()
	if err != nil {
		return OrderPage{}, err
	}
	resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: int32(size), NextPageToken: token, Query: q})
	if err != nil {
		return OrderPage{}, fmt.Errorf("console: list orders: %w", classify(err))
	}
	page := OrderPage{Next: resp.GetNextPageToken()}
	for _, e := range resp.GetExecutions() {
		page.Rows = append(page.Rows, orderRow(e))
	}
	return page, nil
}

// CountOrders counts the orders f selects.
func (c *Console) CountOrders(ctx context.Context, f OrderFilter) (int64, error) {
	q, err := f.Query()
	if err != nil {
		return 0, err
	}
	resp, err := c.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
	if err != nil {
		return 0, fmt.Errorf("console: count orders: %w", classify(err))
	}
	return resp.GetCount(), nil
}

func orderRow(e *workflowpb.WorkflowExecutionInfo) OrderRow {
	sa := e.GetSearchAttributes().GetIndexedFields()
	r := OrderRow{
		RunID:         e.GetExecution().GetRunId(),
		TransactionID: saString(sa, workflows.SATransactionID.GetName()),
		LoanNumber:    saString(sa, workflows.SALoanNumber.GetName()),
		Product:       saString(sa, workflows.SAProduct.GetName()),
		RequestType:   saString(sa, workflows.SARequestType.GetName()),
		ClientID:      saString(sa, workflows.SAClientID.GetName()),
		Stage:         saString(sa, workflows.SAStage.GetName()),
		PartnerStatus: saString(sa, workflows.SAPartnerStatus.GetName()),
		DueAt:         saTime(sa, workflows.SADueAt.GetName()),
		StartedAt:     e.GetStartTime().AsTime(),
		Status:        statusName(e.GetStatus()),
		HistoryLength: e.GetHistoryLength(),
	}
	if e.GetCloseTime() != nil {
		r.ClosedAt = e.GetCloseTime().AsTime()
	}
	if r.TransactionID == "" {
		r.TransactionID = strings.TrimPrefix(e.GetExecution().GetWorkflowId(), workflows.TransactionWorkflowID(""))
	}
	return r
}

// saString decodes a Keyword search attribute (plain JSON, never encrypted); "" when absent.
func saString(sa map[string]*commonpb.Payload, name string) string {
	var v string
	if p := sa[name]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// saTime decodes a Datetime search attribute; zero when absent.
func saTime(sa map[string]*commonpb.Payload, name string) time.Time {
	var v time.Time
	if p := sa[name]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// statusName is a workflow execution status as Temporal's UI names it: Running, Completed…
func statusName(s enumspb.WorkflowExecutionStatus) string {
	n := s.String() // e.g. "Running": the enum's String is already the short name
	if n == "" || n == "Unspecified" {
		return "Unknown"
	}
	return n
}
