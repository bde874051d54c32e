package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

func TestFloodOrderCompletesThroughTheWholeStack(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	require.NoError(t, e.lender.SetServiceEventMappings(ctx, map[string][]string{"FLOOD-DETERMINED": {"task", "notification"}}))

	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-FLOOD-1", "4430 Rosewood Dr"))
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)

	v := e.view(ctx, o.ID)
	require.Equal(t, epc.TransactionCompleted, v.Status)
	require.Equal(t, 1, v.Patches(epc.StatusProcessing), "PATCH statuses: %v", v.PatchStatuses())
	require.Equal(t, 1, v.Patches(epc.StatusCompleted), "PATCH statuses: %v", v.PatchStatuses())
	require.Equal(t, "Flood Certificate Delivered", v.Response.PartnerStatus)
	require.Contains(t, string(v.Response.Loan), "floodZoneIdentifier")
	// The certificate was uploaded once and attached.
	require.Len(t, v.Resources, 1)
	require.Equal(t, "FloodCertificate.pdf", v.Resources[0].Name)
	require.Equal(t, 1, v.Resources[0].Uploads)
	require.True(t, v.Resources[0].Attached)
	require.Len(t, v.Response.Resources, 1)
	// The service event was processed by the platform against the lender's mapping.
	processed := v.EventsOfType(epc.EventResponseProcessed)
	require.Len(t, processed, 1)
	require.Contains(t, string(processed[0].Details), "FLOOD-DETERMINED")

	st, err := e.operator.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, workflows.StageCompleted, st.Stage)
	require.NotNil(t, st.ServiceEvents)
	require.Len(t, st.ServiceEvents.Success, 1)
	require.Equal(t, sandbox.DefaultLenderClientID, st.ClientID, "the lender's client id is the transaction's clientId")
	require.NotEmpty(t, st.InstanceID, "the webhook's meta.instanceId is kept as the EPC instance")

	// Searchable by the lender's client id, as the README says (issue 14: it never was).
	query := fmt.Sprintf("%s = '%s' AND %s = '%s'", workflows.SAClientID.GetName(), sandbox.DefaultLenderClientID,
		workflows.SATransactionID.GetName(), o.ID)
	require.Eventually(t, func() bool {
		resp, err := e.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		return len(resp.Executions) == 1
	}, 20*time.Second, 100*time.Millisecond, "visibility: %s", query)
	// flood-completed.json was recorded before the client id came from the transaction.
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "flood-completed-client-id")
}

func TestAppraisalWithOperatorCompletes(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-APPR-1", "1 Harbor Way"))
	v := e.appraise(ctx, o.ID, 512000)
	require.JSONEq(t, `"512000"`, string(mustField(t, v.Response.Loan, "propertyAppraisedValueAmount")))
	require.Equal(t, workflows.AppraisalReportName, v.Resources[0].Name)
	require.Equal(t, 1, v.Resources[0].Uploads)

	// After completion, operator actions are refused with a precise answer.
	_, err := e.operator.Progress(ctx, o.ID, "late note", "")
	var he *demo.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusConflict, he.Status, he.Body)
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "appraisal-completed")
}

func TestAppraisalCanceledByLenderReleasesInspection(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	o := e.place(ctx, demo.SampleOrder(workflows.TypeAppraisal, "LN-APPR-2", "77 Levee Rd"))
	require.NoError(t, demo.ScheduleInspection(ctx, e.operator, o.ID, 0))
	v := e.cancel(ctx, o.ID)
	require.Len(t, v.EventsOfType("urn:elli:epc:partner:appraisal:released"), 1)
	require.Empty(t, v.Resources, "nothing uploaded for a canceled order")
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "appraisal-canceled")
}

func TestInvalidCredentialsFailWithPartner1001(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	req := demo.SampleOrder(workflows.TypeFloodCertification, "LN-CRED", "5 River Bend")
	req.Credentials = map[string]any{"username": "donaldd", "password": "p@s$w0rd"}
	o := e.place(ctx, req)
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	v := e.view(ctx, o.ID)
	require.Equal(t, epc.StatusFailed, v.Response.Status)
	require.Equal(t, epc.ErrorInvalidCredentials, v.Response.Errors[0].Code)
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "invalid-credentials")
}

func TestInputRequiredResumesAfterLenderUpdate(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	req := demo.SampleOrder(workflows.TypeFloodCertification, "LN-INPUT", "")
	req.Loan = json.RawMessage(`{"loanNumber":"LN-INPUT"}`)
	o := e.place(ctx, req)
	st, err := e.operator.WaitStage(ctx, o.ID, workflows.StageInputRequired)
	require.NoError(t, err)
	require.NotEmpty(t, st.MissingInput)
	// The stage is set as the workflow asks; wait for the platform to have the PATCH.
	v := e.waitView(ctx, o.ID, func(v sandbox.TransactionRecord) bool { return v.Response.Status == epc.StatusInputRequired })
	require.Equal(t, "loan.property.streetAddress", v.Response.Errors[0].FieldID)

	require.NoError(t, e.lender.UpdateRequest(ctx, o.ID, json.RawMessage(`{"loan":{"property":{"streetAddress":"12 Hilltop Ct","city":"Pleasanton","state":"CA","postalCode":"94588"}}}`)))
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "input-required-resumed")
}

func TestUnknownRequestTypeFails(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	o := e.place(ctx, demo.SampleOrder("CreditReport", "LN-CREDIT", "1 Main St"))
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	v := e.view(ctx, o.ID)
	require.Equal(t, vocab.Default().Get(vocab.ErrorUnsupportedRequestType), v.Response.Errors[0].Code)
	e.saveHistory(ctx, "transaction", workflows.TransactionWorkflowID(o.ID), "unknown-type")
}

func TestWebhooksDeliveredThreeTimesMakeOneWorkflow(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	require.NoError(t, e.lender.SetWebhookBehavior(ctx, sandbox.WebhookBehavior{Copies: 3, Shuffle: true}))
	t.Cleanup(func() { _ = e.lender.SetWebhookBehavior(context.Background(), sandbox.WebhookBehavior{Copies: 1}) })

	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-DUP", "950 Bay St"))
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, 1, e.executions(ctx, o.ID))
	v := e.view(ctx, o.ID)
	require.Equal(t, 1, v.Patches(epc.StatusCompleted))
	for _, w := range v.Webhooks {
		for _, a := range w.Attempts {
			require.Less(t, a.Status, 300, "webhook %s answered %d", w.EventID, a.Status)
		}
	}
}

func TestUpdatedBeforeCreatedAndBadSignature(t *testing.T) {
	e := sharedEnv(t)
	ctx := ctxFor(t, time.Minute)
	// Place the order with webhooks paused... the sandbox has no pause: instead drop its own
	// webhooks by pointing the test at a transaction it creates, then send ours by hand.
	o := e.place(ctx, demo.SampleOrder(workflows.TypeFloodCertification, "LN-ORDER", "1 Order St"))
	ref := e.st.SandboxURL + "/partner/v2/transactions/" + o.ID

	// A bad signature is refused and starts nothing.
	other := "11111111-2222-3333-4444-555555555555"
	bad := webhookBody(epc.WebhookCreated, epc.ResourceTransaction, other, ref)
	require.Equal(t, http.StatusUnauthorized, e.postWebhook(bad, "wrong-key").StatusCode)
	require.Equal(t, http.StatusUnauthorized, e.postWebhook(bad, "").StatusCode)
	_, err := e.st.Client.DescribeWorkflowExecution(ctx, workflows.TransactionWorkflowID(other), "")
	var nf *serviceerror.NotFound
	require.ErrorAs(t, err, &nf, "a refused webhook starts no workflow")

	// `updated` arriving before `created` is fine: one workflow, completed.
	upd := webhookBody(epc.WebhookUpdated, epc.ResourceTransaction, o.ID, ref)
	crt := webhookBody(epc.WebhookCreated, epc.ResourceTransaction, o.ID, ref)
	require.Equal(t, http.StatusAccepted, e.postWebhook(upd, sandbox.DefaultSigningKey).StatusCode)
	require.Equal(t, http.StatusAccepted, e.postWebhook(crt, sandbox.DefaultSigningKey).StatusCode)
	res := e.await(ctx, o.ID)
	require.Equal(t, epc.StatusCompleted, res.ResponseStatus)
	require.Equal(t, 1, e.executions(ctx, o.ID))

	// A late webhook for a finished order is accepted (202) and starts nothing new.
	require.Equal(t, http.StatusAccepted, e.postWebhook(webhookBody(epc.WebhookUpdated, epc.ResourceTransaction, o.ID, ref), sandbox.DefaultSigningKey).StatusCode)
	require.Equal(t, 1, e.executions(ctx, o.ID))
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func mustField(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	v, ok := m[key]
	require.True(t, ok, "%s not in %s", key, raw)
	return v
}
