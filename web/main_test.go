package web

import (
	"testing"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

func TestMain(m *testing.M) { teststack.Main(m) }
