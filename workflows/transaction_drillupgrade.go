//go:build drillupgrade

package workflows

// drillUpgradeBuild: this is the drill's upgraded build (go build -tags drillupgrade), whose
// transaction workflow carries the versioned change of drillupgrade.go.
const drillUpgradeBuild = true
