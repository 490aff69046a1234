package tests

import (
	"os"
	"testing"
)

// TestMain removes the worker binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if workerDir != "" {
		_ = os.RemoveAll(workerDir)
	}
	os.Exit(code)
}
