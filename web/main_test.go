package web

import (
	"os"
	"testing"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststack.Cleanup()
	os.Exit(code)
}
