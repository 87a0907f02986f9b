// Package runlog keeps the whole output of every attempt of a step that
// runs a program, beside the journal: <journal>.d/logs/RUN/STEP[ITEM].N.log,
// and of every undo and check action that runs one:
// STEP[ITEM].undo.N.log and STEP[ITEM].check.N.log.
// The journal keeps only an output's tail as evidence, and the file's
// sha256 and size in the attempt's finishing event, so that a reader can
// tell whether the file is still what the run wrote.
//
// A file holds one line per line of output, in arrival order, both streams
// interleaved as a terminal would show them:
//
//	2026-12-03T09:15:04.123Z stdout Upgrading node pool np1
//	2026-12-03T09:15:04.200Z stderr W1203 retrying in 5s
//
// What is written is already redacted: no secret reaches the disk.
package runlog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TimeFormat is the time at the start of each line, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Dir is where a journal's output files live.
func Dir(journalPath string) string { return journalPath + ".d/logs" }

// Ref is what the journal records of an attempt's output file.
type Ref struct {
	File   string `json:"file"` // in the run's directory
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Store creates and finds output files under Dir.
type Store struct {
	Dir string
}

// FileName is an attempt's file name: STEP[ITEM].N.log, with every
// character a file name should not hold replaced by "_" and, when one was,
// a short hash of the original added, so that two items never share a
// file.
func FileName(step, item string, attempt int) string {
	return PhaseFileName(step, item, "", attempt)
}

// PhaseFileName is the file name of the Nth run of an action that is not
// one of the step's own attempts, phase saying which (Undo, Check):
// STEP[ITEM].PHASE.N.log. "" is FileName. No phase's file can take an
// attempt's name: an attempt's STEP[ITEM] ends in "]", in a hash or in a
// step id (which holds no "."), never in ".PHASE".
func PhaseFileName(step, item, phase string, n int) string {
	key := step
	if item != "" {
		key += "[" + item + "]"
	}
	safe := sanitize(key)
	if safe != key || len(safe) > 120 {
		sum := sha256.Sum256([]byte(key))
		safe = safe[:min(len(safe), 120)] + "-" + hex.EncodeToString(sum[:4])
	}
	if phase != "" {
		safe += "." + sanitize(phase)
	}
	return safe + "." + strconv.Itoa(n) + ".log"
}

// The phases whose output is kept beside the step's attempts.
const (
	Undo  = "undo"  // the step's undo, run by rollback
	Check = "check" // the step's check, run by resume for an unfinished instance
)

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '_', r == '.', r == '[', r == ']':
			return r
		}
		return '_'
	}, s)
}

// RunDir is the directory of a run's files.
func (s *Store) RunDir(runID string) (string, error) {
	if runID == "" || sanitize(runID) != runID || strings.Contains(runID, "..") {
		return "", fmt.Errorf("run id %q cannot name a directory", runID)
	}
	return filepath.Join(s.Dir, runID), nil
}

// Path is the file of one attempt.
func (s *Store) Path(runID, file string) (string, error) {
	d, err := s.RunDir(runID)
	if err != nil {
		return "", err
	}
	if file != filepath.Base(file) || file == ".." {
		return "", fmt.Errorf("output file %q is not a plain file name", file)
	}
	return filepath.Join(d, file), nil
}

// Create creates (or empties) the file named name (FileName,
// PhaseFileName) in a run's directory, private to the user: the
// directories 0700, the file 0600.
func (s *Store) Create(runID, name string) (*Writer, error) {
	p, err := s.Path(runID, name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	return &Writer{f: f, ref: Ref{File: name}, sum: sha256.New(), now: time.Now}, nil
}

// Writer appends an attempt's lines to its file. Line may be called from
// several goroutines (a program's stdout and stderr are read apart).
type Writer struct {
	mu  sync.Mutex
	f   *os.File
	ref Ref
	sum hash.Hash
	now func() time.Time
	err error // the first write error: later lines are dropped
}

// Line writes one line of output; stream is "stdout" or "stderr". Each
// line is one write(2), so a reader following the file sees it at once.
func (w *Writer) Line(stream, text string) error {
	b := make([]byte, 0, len(TimeFormat)+len(stream)+len(text)+3)
	b = w.now().UTC().AppendFormat(b, TimeFormat)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	n, err := w.f.Write(b)
	w.sum.Write(b[:n])
	w.ref.Bytes += int64(n)
	if err != nil {
		w.err = fmt.Errorf("output file %s: %w", w.f.Name(), err)
	}
	return w.err
}

// Close syncs and closes the file and returns what the journal keeps of it.
func (w *Writer) Close() (Ref, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := errors.Join(w.err, w.f.Sync(), w.f.Close())
	w.ref.SHA256 = hex.EncodeToString(w.sum.Sum(nil))
	return w.ref, err
}

// Entry is one line of an output file.
type Entry struct {
	Time   string // as written, TimeFormat
	Stream string
	Text   string
}

// Parse splits a line (without its newline) into its parts; a line that
// does not have them (a file edited by hand) is all text.
func Parse(line string) Entry {
	t, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Entry{Text: line}
	}
	stream, text, ok := strings.Cut(rest, " ")
	if !ok || (stream != "stdout" && stream != "stderr") {
		return Entry{Text: line}
	}
	return Entry{Time: t, Stream: stream, Text: text}
}
