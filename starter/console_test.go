package starter

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrderFilterQuery(t *testing.T) {
	for _, tc := range []struct {
		f    OrderFilter
		want string
	}{
		{OrderFilter{}, "WorkflowType = 'EPCTransaction' AND ExecutionStatus = 'Running'"},
		{OrderFilter{Finished: true}, "WorkflowType = 'EPCTransaction' AND ExecutionStatus != 'Running'"},
		{OrderFilter{Stages: []string{"awaiting-schedule", "awaiting-report"}, RequestType: "Appraisal", Search: "LN-2026"},
			"WorkflowType = 'EPCTransaction' AND ExecutionStatus = 'Running' AND EpcStage IN ('awaiting-schedule', 'awaiting-report')" +
				" AND EpcRequestType = 'Appraisal' AND (EpcLoanNumber STARTS_WITH 'LN-2026' OR EpcTransactionId STARTS_WITH 'LN-2026')"},
	} {
		got, err := tc.f.Query()
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	// Nothing that could change the query's meaning gets in.
	for _, bad := range []OrderFilter{
		{Search: "x' OR WorkflowType != 'x"}, {Search: `a\'b`}, {RequestType: "A)"}, {Stages: []string{"s' OR '1'='1"}},
		{Search: string(make([]byte, 129))},
	} {
		_, err := bad.Query()
		require.True(t, errors.Is(err, ErrBadFilter), "%+v: %v", bad, err)
	}
}
