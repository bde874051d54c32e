//go:build production

package cli

// The drill and the Temporal server alone need the embedded server: not in a production build.
var (
	runDrill    = notInBuild("drill")
	runTemporal = notInBuild("temporal")
)
