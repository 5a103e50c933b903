#!/usr/bin/env bash
# The manual (docs/, an mdBook; docs/src/development.md, "The book"): builds it with
# `mdbook build docs` and checks what mdbook lets pass. It fails, naming the file and the
# link, on
#   - a relative link in docs/src/*.md (or README.md, the book's front page) to a file that
#     does not exist (a chapter, or a file of the repository), or to an anchor that no
#     heading of its target has;
#   - a chapter listed in SUMMARY.md that does not exist, or a .md file in docs/src/ that
#     SUMMARY.md does not list;
#   - a code block without a language (rustdoc would take it for Rust);
#   - a chapter with a Rust block that harness/src/book.rs does not compile as a doc-test.
#
# Usage: scripts/check-book.sh      mdbook from $MDBOOK, else PATH
#   (cargo install mdbook --locked --version 0.5.4)
# Exit: 0 all well, 1 a check or the build failed, 3 no mdbook.
set -euo pipefail
cd "$(dirname "$0")/.."

mdbook="${MDBOOK:-mdbook}"
if ! command -v "$mdbook" >/dev/null 2>&1; then
  echo "check-book: no mdbook (\$MDBOOK or PATH); install it with:" >&2
  echo "  cargo install mdbook --locked --version 0.5.4" >&2
  exit 3
fi

status=0
python3 - docs/src harness/src/book.rs <<'PY' || status=1
import os, re, sys
from urllib.parse import unquote

src, book_rs = sys.argv[1], sys.argv[2]
root = os.getcwd()
problems = []

def rel(path):
    return os.path.relpath(path, root)

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)')

def prose_lines(text, keep_code=False):
    """(line number, line) outside fenced code blocks, HTML comments and (unless keep_code)
    inline code spans blanked out, so that neither is read as a link."""
    fence = None
    in_comment = False
    for n, line in enumerate(text.split('\n'), 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if m and m.group(1).startswith(fence[0] * len(fence)) and not m.group(2):
                fence = None
            continue
        # HTML comments (possibly over several lines).
        out = ''
        rest = line
        while rest:
            if in_comment:
                end = rest.find('-->')
                if end < 0:
                    rest = ''
                else:
                    in_comment, rest = False, rest[end + 3:]
            else:
                start = rest.find('<!--')
                if start < 0:
                    out, rest = out + rest, ''
                else:
                    out, rest, in_comment = out + rest[:start], rest[start + 4:], True
        # Inline code: a run of N backticks up to the next run of exactly N.
        if not keep_code:
            out = re.sub(r'(`+)(.+?)(?<!`)\1(?!`)', lambda m: ' ' * len(m.group(0)), out)
        yield n, out

def fences(text):
    """(line number, info string) of each opening fence."""
    fence = None
    for n, line in enumerate(text.split('\n'), 1):
        m = FENCE.match(line)
        if not m:
            continue
        if fence is None:
            fence = m.group(1)
            yield n, line.strip()[len(fence):].strip()
        elif m.group(1).startswith(fence[0] * len(fence)) and not m.group(2):
            fence = None

def slug(heading):
    """The id mdbook (and GitHub) gives a heading: its text lowercased, spaces as '-',
    everything but letters, digits, '_' and '-' dropped."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)   # links: their text
    text = re.sub(r'<[^>]+>', '', text)                          # HTML tags
    text = text.replace('`', '').replace('*', '')
    out = []
    for ch in text.strip():
        if ch.isalnum() or ch in '_-':
            out.append(ch.lower())
        elif ch.isspace():
            out.append('-')
    return ''.join(out)

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        ids, seen = set(), {}
        text = open(path, encoding='utf-8').read()
        for _, line in prose_lines(text, keep_code=True):
            m = re.match(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$', line)
            if m:
                title = m.group(2)
                custom = re.search(r'\{#([^}\s]+)[^}]*\}\s*$', title)
                if custom:
                    ids.add(custom.group(1))
                    continue
                base = slug(title)
                k = seen.get(base, 0)
                seen[base] = k + 1
                ids.add(base if k == 0 else f'{base}-{k}')
        # Explicit anchors: <a id="..."> / <a name="...">, id="..." on any tag.
        ids.update(re.findall(r'\b(?:id|name)="([^"]+)"', text))
        anchor_cache[path] = ids
    return anchor_cache[path]

LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)')
REFDEF = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')

chapters = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith('.md'))
summary = os.path.join(src, 'SUMMARY.md')

# The table of contents: every chapter it lists exists, every chapter is listed.
listed = set()
if not os.path.exists(summary):
    problems.append(f'{rel(summary)}: missing')
else:
    for n, line in prose_lines(open(summary, encoding='utf-8').read()):
        for m in LINK.finditer(line):
            target = unquote(m.group(1).split('#')[0])
            if not target:
                continue        # a draft chapter, `[Title]()`
            path = os.path.normpath(os.path.join(src, target))
            listed.add(path)
            if not os.path.isfile(path):
                problems.append(f'{rel(summary)}:{n}: lists {m.group(1)}, which does not exist')
for path in chapters:
    if path != summary and os.path.normpath(path) not in listed:
        problems.append(f'{rel(path)}: not listed in {rel(summary)}')

# Links, code blocks.
rust_chapters = set()
for path in [c for c in chapters if c != summary] + ['README.md']:
    text = open(path, encoding='utf-8').read()
    here = os.path.dirname(path)
    for n, line in prose_lines(text):
        targets = [m.group(1) for m in LINK.finditer(line)]
        m = REFDEF.match(line)
        if m:
            targets.append(m.group(1))
        for target in targets:
            if not target or SCHEME.match(target) or target.startswith('//'):
                continue        # a web link: not ours to check offline
            file_part, _, anchor = target.partition('#')
            file_part = unquote(file_part)
            if file_part.startswith('/'):
                problems.append(f'{rel(path)}:{n}: link {target}: absolute, make it relative')
                continue
            dest = os.path.normpath(os.path.join(here, file_part)) if file_part else path
            if not os.path.exists(dest):
                problems.append(f'{rel(path)}:{n}: link {target}: {rel(dest)} does not exist')
                continue
            if anchor and dest.endswith('.md') and anchor not in anchors(dest):
                problems.append(
                    f'{rel(path)}:{n}: link {target}: no heading of {rel(dest)} has the id {anchor}')
    for n, info in fences(text) if path != 'README.md' else ():
        lang = re.split(r'[,\s]', info)[0] if info else ''
        if not lang:
            problems.append(f'{rel(path)}:{n}: a code block without a language '
                            '(rust, toml, sh, text, ...): rustdoc would take it for Rust')
        elif lang == 'rust':
            rust_chapters.add(path)

# Every chapter with Rust code is compiled as a doc-test of the facade.
included = set()
if os.path.exists(book_rs):
    for m in re.finditer(r'include_str!\(\s*"([^"]+)"\s*\)', open(book_rs, encoding='utf-8').read()):
        included.add(os.path.normpath(os.path.join(os.path.dirname(book_rs), m.group(1))))
for path in sorted(rust_chapters):
    if os.path.normpath(path) not in included:
        problems.append(f'{rel(path)}: has Rust code, but {book_rs} does not include it '
                        '(its blocks would not be compiled)')

for p in problems:
    print(f'check-book: {p}', file=sys.stderr)
if problems:
    print(f'check-book: {len(problems)} problem(s)', file=sys.stderr)
    sys.exit(1)
print(f'check-book: {len(chapters)} files in {src}, their links, table of contents and code blocks are fine')
PY

# The build: mdbook's own errors (a SUMMARY.md it cannot parse, a missing chapter).
if ! "$mdbook" build docs; then
  echo "check-book: mdbook build docs failed" >&2
  status=1
fi
exit "$status"
