package main

import (
	"fmt"
	"os/exec"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func keyf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
