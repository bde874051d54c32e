// Package workflows holds epcflow's Temporal workflow definitions, one file (and its prefix)
// per flow: the EPC transaction (transaction*.go), the Delivery Room package (delivery.go)
// and the Inbank payment session (payment.go); their names in names.go, their activity
// options in options.go. Workflow code is deterministic: it does no I/O and reads no clock or
// randomness except Temporal's. Every side effect is an activity (package activities).
//
// The transaction flow's files:
//
//	transaction.go              the workflow: handlers, webhooks, the pipeline from acknowledgement to completion
//	transaction_cancel.go       the lender's cancellation, top to bottom
//	transaction_failure.go      how an order fails: error codes, the failed response
//	transaction_products.go     the products (Appraisal, FloodCertification) and their compensations
//	transaction_operator.go     the operator's actions (updates and their validators)
//	transaction_visibility.go   what the Temporal UI shows: search attributes and current details
//	transaction_types.go        inputs, signals, status and result
package workflows
