// Package procfile runs the processes of a Procfile together, the way
// foreman does: one output stream with each line prefixed by its process,
// and when one process stops or the runner is interrupted, all stop.
package procfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long processes get between SIGTERM and SIGKILL.
const stopGrace = 15 * time.Second

// Entry is one line of a Procfile.
type Entry struct {
	Name    string
	Command string
}

// Parse reads "name: command" lines; blank lines and # comments are skipped.
func Parse(r io.Reader) ([]Entry, error) {
	var entries []Entry
	scanner := bufio.NewScanner(r)
	for number := 1; scanner.Scan(); number++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, command, ok := strings.Cut(line, ":")
		name, command = strings.TrimSpace(name), strings.TrimSpace(command)
		if !ok || name == "" || command == "" {
			return nil, fmt.Errorf("line %d: want \"name: command\", got %q", number, line)
		}
		entries = append(entries, Entry{Name: name, Command: command})
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, errors.New("no processes")
	}
	return entries, nil
}

// Run starts every process of the Procfile at path and waits. It returns
// when ctx ends or any process exits, after stopping all the others.
func Run(ctx context.Context, path string, out io.Writer) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open Procfile: %w", err)
	}
	entries, err := Parse(file)
	file.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}

	width := 0
	for _, entry := range entries {
		width = max(width, len(entry.Name))
	}
	output := &prefixedOutput{out: out, width: width}

	type exit struct {
		name string
		err  error
	}
	exits := make(chan exit, len(entries))
	var running []*exec.Cmd
	for _, entry := range entries {
		cmd, err := start(entry, output)
		if err != nil {
			stopAll(running, output)
			return err
		}
		running = append(running, cmd)
		go func() { exits <- exit{entry.Name, cmd.Wait()} }()
	}

	var first exit
	select {
	case <-ctx.Done():
		output.line("up", "stopping every process")
	case first = <-exits:
		output.line("up", fmt.Sprintf("%s exited (%v); stopping the others", first.name, first.err))
	}
	stopAll(running, output)
	if first.name != "" {
		return fmt.Errorf("%s exited: %v", first.name, first.err)
	}
	return ctx.Err()
}

func start(entry Entry, output *prefixedOutput) (*exec.Cmd, error) {
	cmd := exec.Command("sh", "-c", entry.Command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout := output.writer(entry.Name)
	cmd.Stdout = stdout
	cmd.Stderr = stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", entry.Name, err)
	}
	output.line("up", fmt.Sprintf("started %s (pid %d): %s", entry.Name, cmd.Process.Pid, entry.Command))
	return cmd, nil
}

// stopAll sends SIGTERM to each process group, then SIGKILL to those still
// alive after the grace period.
func stopAll(cmds []*exec.Cmd, output *prefixedOutput) {
	for _, cmd := range cmds {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}

	deadline := time.Now().Add(stopGrace)
	for _, cmd := range cmds {
		for alive(cmd) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(cmd) {
			output.line("up", fmt.Sprintf("pid %d did not stop in %s; killing it",
				cmd.Process.Pid, stopGrace))
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// alive reports whether anything of the process group still runs.
func alive(cmd *exec.Cmd) bool {
	return syscall.Kill(-cmd.Process.Pid, 0) == nil
}

// prefixedOutput writes whole lines from many processes, each prefixed
// with its name, without interleaving them.
type prefixedOutput struct {
	mu    sync.Mutex
	out   io.Writer
	width int
}

func (p *prefixedOutput) line(name, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%-*s | %s\n", p.width, name, text)
}

func (p *prefixedOutput) writer(name string) io.Writer {
	reader, writer := io.Pipe()
	go func() {
		scanner := bufio.NewScanner(reader)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			p.line(name, scanner.Text())
		}
		io.Copy(io.Discard, reader)
	}()
	return writer
}
