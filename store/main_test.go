package store_test

import (
	"os"
	"testing"

	"github.com/fsdialer/fsdialer/store/storetest"
)

// TestMain stops the Redis Cluster and Sentinel set some tests run on
// (storetest.Backends).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
