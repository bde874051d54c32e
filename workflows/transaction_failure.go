package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// How a transaction fails: the order is closed failed with errors[] the lender can act on,
// or left alone when someone else closed it.

// The error codes are the vocabulary's (vocab.Error*): [ours] but PARTNER-1001.

// errClosedElsewhere means the transaction was closed by someone else (or an earlier run).
var errClosedElsewhere = errors.New("transaction already closed")

// permanentFailure ends the order with status failed and these errors.
type permanentFailure struct {
	errs []epc.ErrorItem
}

func (p *permanentFailure) Error() string {
	var parts []string
	for _, e := range p.errs {
		parts = append(parts, e.Code+": "+e.Description)
	}
	return strings.Join(parts, "; ")
}

func fail(code, fieldID, format string, args ...any) error {
	return &permanentFailure{errs: []epc.ErrorItem{{Code: code, Description: fmt.Sprintf(format, args...), Type: epc.ErrorTypePartner, FieldID: fieldID}}}
}

// finishFailed records the failed response with its errors[]; an error that is not one of
// ours becomes PARTNER-5000 with the root cause.
func (s *txState) finishFailed(ctx workflow.Context, err error) {
	var pf *permanentFailure
	if !errors.As(err, &pf) {
		pf = &permanentFailure{errs: []epc.ErrorItem{{Code: s.word(vocab.ErrorProcessingFailed), Description: "processing failed: " + rootMessage(err), Type: epc.ErrorTypePartner}}}
	}
	s.st.LastError = pf.Error()
	s.st.Errors = pf.errs
	s.log.Warn("order failed", "error", pf.Error())
	out, perr := s.patch(ctx, "fail", vocab.StatusFailed, epc.Response{
		Status: epc.StatusFailed, ReferenceNumber: s.st.ReferenceNumber, Errors: pf.errs,
	}, false)
	if perr != nil {
		s.st.LastError += "; recording failure: " + perr.Error()
	} else if !out.Applied {
		s.learn(ctx, out.Info)
	}
	s.st.Closed = true
	s.setStage(ctx, StageFailed, "")
}

// rootMessage is the innermost application error's message: what actually went wrong.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
