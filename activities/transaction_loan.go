package activities

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// loanNumber reads loanNumber from PLM loan data; empty when absent or malformed.
func loanNumber(loan json.RawMessage) string {
	var l struct {
		LoanNumber string `json:"loanNumber"`
	}
	_ = json.Unmarshal(loan, &l)
	return l.LoanNumber
}

// property reads the subject property's address from PLM loan data.
func property(loan json.RawMessage) Property {
	var l struct {
		Property Property `json:"property"`
	}
	_ = json.Unmarshal(loan, &l)
	return l.Property
}

func nonRetryableClosed(txID string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("transaction %s is closed: no further response updates", txID), ErrTypeClosed, nil)
}
