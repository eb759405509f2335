package media

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// ProbeCommand is `probe FILE... [--thumb DIR]`: it prints one JSON object
// per file (column names as keys, plus "file") and, with --thumb, writes
// NAME.small.jpg and NAME.medium.jpg into DIR.
func ProbeCommand() *cobra.Command {
	var thumbDir string
	cmd := &cobra.Command{
		Use:   "probe FILE...",
		Short: "Print media metadata of local files as JSON lines",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd.Context(), args, thumbDir, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&thumbDir, "thumb", "", "write small and medium JPEG thumbnails into this folder")
	return cmd
}

// probeLine is one output line: the file name, then the metadata fields.
type probeLine struct {
	File string `json:"file"`
	Metadata
	ThumbError string `json:"thumb_error,omitempty"`
}

// runProbe probes each file; a file that cannot be opened is reported in
// its line and does not stop the others.
func runProbe(ctx context.Context, files []string, thumbDir string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if thumbDir != "" {
		if err := os.MkdirAll(thumbDir, 0o755); err != nil {
			return fmt.Errorf("create thumbnail folder: %w", err)
		}
	}

	encoder := json.NewEncoder(stdout)
	encoder.SetEscapeHTML(false)
	for _, file := range files {
		line := probeFile(ctx, file, thumbDir)
		if err := encoder.Encode(line); err != nil {
			return fmt.Errorf("write result for %s: %w", file, err)
		}
	}
	return nil
}

// probeFile probes one file and writes its thumbnails when asked.
func probeFile(ctx context.Context, file, thumbDir string) probeLine {
	line := probeLine{File: file}
	src, err := OpenFile(file)
	if err != nil {
		line.ExtractError = err.Error()
		return line
	}
	defer src.Close()

	line.Metadata = Probe(ctx, src, filepath.Base(file))
	if thumbDir == "" || line.Kind == "" {
		return line
	}

	small, medium, err := Thumbnails(ctx, src, line.Metadata)
	if err != nil {
		line.ThumbError = err.Error()
		return line
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	for suffix, data := range map[string][]byte{".small.jpg": small, ".medium.jpg": medium} {
		if err := os.WriteFile(filepath.Join(thumbDir, base+suffix), data, 0o644); err != nil {
			line.ThumbError = fmt.Sprintf("write thumbnail: %v", err)
		}
	}
	return line
}
