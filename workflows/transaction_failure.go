package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/epc"
)

// How a transaction fails: the order is closed failed with errors[] the lender can act on,
// or left alone when someone else closed it.

// Error codes this partner sends in errors[] ([ours] except PARTNER-1001).
const (
	CodeInvalidCredentials = epc.ErrorInvalidCredentials // [doc] "Invalid credentials"
	CodeMissingInput       = "PARTNER-2001"
	CodeUnsupportedType    = "PARTNER-2002"
	CodeInputTimeout       = "PARTNER-2003"
	CodeProcessingFailed   = "PARTNER-5000"
)

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
		pf = &permanentFailure{errs: []epc.ErrorItem{{Code: CodeProcessingFailed, Description: "processing failed: " + rootMessage(err), Type: epc.ErrorTypePartner}}}
	}
	s.st.LastError = pf.Error()
	s.st.Errors = pf.errs
	s.log.Warn("order failed", "error", pf.Error())
	out, perr := s.patch(ctx, "fail", epc.Response{
		Status: epc.StatusFailed, PartnerStatus: "Failed", ReferenceNumber: s.st.ReferenceNumber, Errors: pf.errs,
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
