package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// floorWorkflowName is the floor's workflow type.
const floorWorkflowName = "BenchFloor"

// floorWorkflow is the least a durable order can be: it takes the webhook it was started
// with and does one thing that survives a crash, one no-op activity.
func floorWorkflow(ctx workflow.Context, _ workflows.TransactionInput) error {
	var sig workflows.WebhookSignal
	workflow.GetSignalChannel(ctx, workflows.SignalWebhook).Receive(ctx, &sig)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	return workflow.ExecuteActivity(ctx, noopActivityName).Get(ctx, nil)
}

// floor runs the floor workflow as many times, at the same rate, as the end-to-end phase ran
// orders. Each is started the way the API starts an order from its first webhook
// (starter.DeliverWebhook): one SignalWithStart with the same options (reject-duplicate id
// reuse, static summary and details, the transaction id search attribute) and the same
// signal and input, built from a `created` webhook by starter.SignalFromWebhook. What the
// floor leaves out is the API's HTTP handling of that webhook (signature, de-duplication),
// which the webhook latencies measure apart, and everything the order does after.
func (r *runner) floor(ctx context.Context) (Reference, error) {
	fmt.Fprintf(r.progress, "bench: floor: %d workflows of one no-op activity, started by SignalWithStart, at %s\n", r.cfg.Orders, rateText(r.cfg.Rate))
	return r.reference(ctx, "floor", floorWorkflowName, func(ctx context.Context, id string) (client.WorkflowRun, error) {
		return r.startFloor(ctx, id)
	})
}

func (r *runner) startFloor(ctx context.Context, txID string) (client.WorkflowRun, error) {
	wh := epc.Webhook{
		EventID: "floor-" + txID, EventTime: time.Now().UTC(), EventType: epc.WebhookCreated,
		Meta: epc.WebhookMeta{
			ResourceType: epc.ResourceTransaction, ResourceID: txID, InstanceID: "bench",
			ResourceRef: "/partner/v2/transactions/" + txID,
		},
	}
	sum := sha256.Sum256([]byte(wh.EventID))
	sig, err := starter.SignalFromWebhook(wh, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, err
	}
	opts := client.StartWorkflowOptions{
		ID:                    txID,
		TaskQueue:             refTaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         "EPC transaction " + txID,
		StaticDetails:         fmt.Sprintf("EPC transaction `%s` from EPC instance `%s`, first seen as a `%s` webhook.", txID, wh.Meta.InstanceID, wh.EventType),
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SATransactionID.ValueSet(txID)),
	}
	return r.st.Client.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalWebhook, sig, opts,
		floorWorkflowName, workflows.TransactionInput{TransactionID: txID, InstanceID: wh.Meta.InstanceID})
}
