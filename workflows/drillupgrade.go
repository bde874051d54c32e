package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/vocab"
)

// The rolling-upgrade drill (epcflow drill, package drill) replaces the workers halfway
// through by a build made with -tags drillupgrade, whose transaction workflow has one
// versioned change: an order it starts posts one progress event more, DrillUpgradeText,
// before its acknowledgement. Orders started before keep their path (no marker in their
// history: GetVersion answers DefaultVersion), so the sandbox's records show which path each
// order took. No other build has the change (drillUpgradeBuild is false there).

// changeDrillUpgrade versions the drill's change.
const changeDrillUpgrade = "drill-upgrade"

// DrillUpgradeText is the text of the progress event an order started by the drill's
// upgraded build posts.
const DrillUpgradeText = "epcflow drill: started by the upgraded build"

// drillUpgrade posts the upgraded build's progress event on an order started by it; it does
// nothing in every other build and on every order started before the upgrade.
func (s *txState) drillUpgrade(ctx workflow.Context) error {
	if !drillUpgradeBuild || workflow.GetVersion(ctx, changeDrillUpgrade, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	var ev activities.EventInfo
	if err := workflow.ExecuteActivity(withActivity(ctx, "post drill upgrade event", epcCall), ActivityPostEvent, activities.PostEventInput{
		TransactionID: s.in.TransactionID, Type: s.word(vocab.EventProgress), Text: DrillUpgradeText,
	}).Get(ctx, &ev); err != nil {
		return err
	}
	s.addEvent(EventRecord{ID: ev.ID, Type: ev.Type, Text: ev.Text, At: workflow.Now(ctx)})
	return nil
}
