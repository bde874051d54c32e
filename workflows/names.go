package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Every name epcflow's workflows are known by outside their own code, declared once: the
// worker registers them, the starter and the API call them, the replayer and the tests find
// them here.

// TaskQueue is the task queue epcflow's workers poll.
const TaskQueue = "epcflow"

// Workflow types.
const (
	// TransactionWorkflowName is the EPC transaction workflow ((*Engine).Transaction).
	TransactionWorkflowName = "EPCTransaction"
	// PaymentWorkflowName is the Inbank payment session workflow (PaymentSession).
	PaymentWorkflowName = "InbankPaymentSession"
	// PackageWorkflowName is the Delivery Room package workflow (PackageDelivery).
	PackageWorkflowName = "POSPackageDelivery"
)

// TransactionWorkflowID derives the one workflow id of an EPC transaction, so every webhook
// for it lands on the same execution.
func TransactionWorkflowID(transactionID string) string { return "epc-transaction-" + transactionID }

// MaxTransactionIDBytes bounds a transaction id, so its workflow id stays within the server's
// limit (maxWorkflowIDBytes) with room to spare.
const MaxTransactionIDBytes = 900

// CheckTransactionID tells whether Temporal can take transactionID in a workflow id: valid
// UTF-8, no control character, 1 to MaxTransactionIDBytes bytes. A webhook naming one it
// cannot take would be refused by Temporal on every retry: it is refused at once instead.
func CheckTransactionID(transactionID string) error {
	switch {
	case transactionID == "":
		return errors.New("the transaction id is empty")
	case len(transactionID) > MaxTransactionIDBytes:
		return fmt.Errorf("the transaction id is %d bytes long; at most %d are accepted", len(transactionID), MaxTransactionIDBytes)
	case !utf8.ValidString(transactionID):
		return errors.New("the transaction id is not valid UTF-8")
	}
	for i, r := range transactionID {
		if unicode.IsControl(r) {
			return fmt.Errorf("the transaction id holds a control character (%U at byte %d)", r, i)
		}
	}
	return nil
}

// PaymentWorkflowID is the workflow id of payment session id.
func PaymentWorkflowID(id string) string { return "payment-session-" + id }

// PackageWorkflowID is the one workflow id of a package, from its pos.PackageEvent.Key (already
// path-escaped), so every resend and every open lands on the same execution. A key too long
// for a Temporal workflow id (ids of up to 256 characters each are valid in an event) is
// replaced by its SHA-256; that form cannot clash with a key, which always holds "/".
func PackageWorkflowID(key string) string {
	if id := "pos-package-" + key; len(id) <= maxWorkflowIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(key))
	return "pos-package-sha256-" + hex.EncodeToString(sum[:])
}

// maxWorkflowIDBytes is the Temporal server's default limit.maxIDLength: a longer workflow id
// is refused, and the package event would be answered 503 on every retry.
const maxWorkflowIDBytes = 1000

// Signals, queries and updates.
const (
	// SignalWebhook carries a verified EPC webhook (WebhookSignal) to its transaction.
	SignalWebhook = "epc-webhook"
	// SignalInbankCallback carries a verified Inbank callback (InbankCallback) to its session.
	SignalInbankCallback = "inbank-callback"
	// SignalRecipientOpened says a recipient opened a package (RecipientOpened).
	SignalRecipientOpened = "recipient-opened"
	// QueryStatus answers a workflow's live state (every flow).
	QueryStatus = "status"
	// Operator actions on an Appraisal transaction.
	UpdateSchedule = "schedule-inspection"
	UpdateDeliver  = "deliver-report"
	UpdateProgress = "report-progress"
	// UpdateCreateSession has a payment session created at Inbank; it answers PaymentCreated.
	UpdateCreateSession = "create-session"
)

// Activity types. The workflows call activities by these names and the worker registers
// each activity method under its name; they are recorded in every history, so a name never
// changes.
const (
	// The transaction flow (activities.Transaction).
	ActivityPatchResponse            = "PatchResponse"
	ActivityGatherData               = "GatherData"
	ActivityInspectTransaction       = "InspectTransaction"
	ActivityReadEvent                = "ReadEvent"
	ActivityPostEvent                = "PostEvent"
	ActivitySendServiceEvents        = "SendServiceEvents"
	ActivityAwaitServiceOutcome      = "AwaitServiceOutcome"
	ActivityUploadFile               = "UploadFile"
	ActivityDetermineFlood           = "DetermineFlood"
	ActivityGenerateFloodCertificate = "GenerateFloodCertificate"
	ActivityReleaseInspection        = "ReleaseInspection"
	// The lean order's steps (activities/transaction_steps.go).
	ActivityAcknowledgeAndGather = "AcknowledgeAndGather"
	ActivitySendAndAwaitOutcome  = "SendAndAwaitServiceEvents"
	ActivityUploadAndComplete    = "UploadAndComplete"
	// The payment flow (activities.Payment).
	ActivityInbankCreateSession = "InbankCreateSession"
	ActivityInbankGetSession    = "InbankGetSession"
)

// WorkflowNames lists every workflow type epcflow registers.
func WorkflowNames() []string {
	return []string{TransactionWorkflowName, PackageWorkflowName, PaymentWorkflowName}
}

// Search attributes kept current on every transaction workflow (Keyword but EpcDueAt). Registered on
// a server by SearchAttributes; docker-compose.yml lists them too (a test keeps it in step).
var (
	SATransactionID = temporal.NewSearchAttributeKeyKeyword("EpcTransactionId")
	SAClientID      = temporal.NewSearchAttributeKeyKeyword("EpcClientId")
	SAProduct       = temporal.NewSearchAttributeKeyKeyword("EpcProduct")
	SARequestType   = temporal.NewSearchAttributeKeyKeyword("EpcRequestType")
	SALoanNumber    = temporal.NewSearchAttributeKeyKeyword("EpcLoanNumber")
	SAPartnerStatus = temporal.NewSearchAttributeKeyKeyword("EpcPartnerStatus")
	SAStage         = temporal.NewSearchAttributeKeyKeyword("EpcStage")
	// SADueAt (Datetime) is when what the order waits for falls due: at input-required the
	// deadline of the lender's input, after which the order fails; at awaiting-report the
	// inspection appointment, after which the report is expected. Unset at other stages.
	SADueAt = temporal.NewSearchAttributeKeyTime("EpcDueAt")
)

// SearchAttributes lists our custom search attributes for registration on a server.
func SearchAttributes() map[string]enums.IndexedValueType {
	m := map[string]enums.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{SATransactionID, SAClientID, SAProduct, SARequestType, SALoanNumber, SAPartnerStatus, SAStage} {
		m[k.GetName()] = enums.INDEXED_VALUE_TYPE_KEYWORD
	}
	m[SADueAt.GetName()] = enums.INDEXED_VALUE_TYPE_DATETIME
	return m
}
