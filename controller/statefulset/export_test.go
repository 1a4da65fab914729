package statefulset

// Exported for the integration test (package statefulset_test, external
// because the test server imports this package).
var (
	Revision    = revision
	NewRevision = newRevision
	TestSet     = testSet
	CompatSet   = compatSet
)
