//! A static check that bounds the memory any render of a notification template can use,
//! for every attendee whose fields are within the registration limits.
//!
//! minijinja's fuel bounds instructions, not allocations: one `'x' * 10000000`, a chain of
//! `replace` filters or a `{% set a = a ~ a %}` doubling allocates a huge value in a few
//! instructions. So a template is parsed and its syntax tree checked before it is compiled:
//!
//! - no statement can bind a value (`set`, `with`, macros, `call`, filter blocks, imports),
//!   so every value is computed from the attendee's fields and the template's own text by
//!   an expression tree of bounded size;
//! - the `*` operator (string repetition) and filters outside a short list are refused;
//! - every expression gets an upper bound of the bytes its value can take (a filter such as
//!   `replace` multiplies, `~` adds), and a template where a value that is turned into text
//!   could exceed the rendered-size cap is refused at creation.
//!
//! Loops only repeat output, which goes to a writer that stops at the same cap.
use minijinja::machinery::{self, WhitespaceConfig, ast};
use minijinja::syntax::SyntaxConfig;

use super::registration::NAME_MAX;

/// Bytes of a number turned into text (an `f64` can print 300+ digits).
const NUMBER: usize = 400;
const BOOL: usize = 5;
/// `range()` yields at most 100,000 numbers (a minijinja limit).
const RANGE_ITEMS: usize = 100_000;
/// UTF-8 bytes per character, at most.
const CHAR: usize = 4;
const NAME_FIELD: usize = NAME_MAX * CHAR;
/// `lower`/`upper`/`title`: a Unicode case mapping yields at most three characters per one.
const CASE_GROWTH: usize = 3;
const MAX_NESTING: usize = 64;
/// A string shown inside a list or map is quoted and escaped (`\u{301}` for a 2-byte char).
const ESCAPE_GROWTH: usize = 6;

/// The largest value each attendee field can hold, in bytes (`EmailAddress::MAX_LENGTH`,
/// registration's `NAME_MAX` characters). `render` refuses fields beyond these.
pub(super) const ATTENDEE_FIELDS: &[(&str, usize)] = &[
    ("first_name", NAME_FIELD),
    ("last_name", NAME_FIELD),
    ("email", super::EmailAddress::MAX_LENGTH),
    ("company", NAME_FIELD),
    ("job_position", NAME_FIELD),
    ("city", NAME_FIELD),
    ("state", NAME_FIELD),
];
/// Conference fields: `NewConference` allows 200 and 300 characters.
pub(super) const CONFERENCE_FIELDS: &[(&str, usize)] = &[
    ("name", 200 * CHAR),
    ("starts_on", 10),
    ("address", 300 * CHAR),
    ("price", NUMBER),
    ("currency", 3),
];

/// Upper bounds of a value: as text (`size`), and of any one item when iterated (`item`).
#[derive(Clone, Copy, Debug)]
struct Bound {
    size: usize,
    item: usize,
}

impl Bound {
    fn text(size: usize) -> Self {
        Self { size, item: size }
    }
}

type Checked<T> = Result<T, String>;

/// Checks one template's source against the budget; `cap` is its rendered-size limit.
/// The error says what is not allowed, or which expression can grow too large.
pub fn check(source: &str, name: &str, cap: usize) -> Checked<()> {
    let tree = machinery::parse(source, name, SyntaxConfig, WhitespaceConfig::default())
        .map_err(|e| e.to_string())?;
    Checker {
        cap,
        scopes: Vec::new(),
        loops: Vec::new(),
        depth: 0,
    }
    .stmt(&tree)
}

struct Checker<'a> {
    cap: usize,
    /// Loop variables in scope, innermost last, with the bound of their values.
    scopes: Vec<(&'a str, Bound)>,
    /// The iterables of the loops around the current point (for `loop.previtem`).
    loops: Vec<Bound>,
    depth: usize,
}

impl<'a> Checker<'a> {
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Checked<T>) -> Checked<T> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!("nested more than {MAX_NESTING} levels deep"));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn stmts(&mut self, body: &'a [ast::Stmt<'a>]) -> Checked<()> {
        body.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, stmt: &'a ast::Stmt<'a>) -> Checked<()> {
        self.nested(|this| match stmt {
            ast::Stmt::Template(t) => this.stmts(&t.children),
            ast::Stmt::EmitRaw(_) => Ok(()),
            ast::Stmt::EmitExpr(e) => {
                let bound = this.expr(&e.expr)?;
                this.materialized(bound.size)
            }
            ast::Stmt::IfCond(c) => {
                this.expr(&c.expr)?;
                this.stmts(&c.true_body)?;
                this.stmts(&c.false_body)
            }
            ast::Stmt::ForLoop(f) => this.for_loop(f),
            other => Err(format!(
                "{} blocks are not allowed in notification templates (only if and for)",
                statement_name(other)
            )),
        })
    }

    fn for_loop(&mut self, f: &'a ast::ForLoop<'a>) -> Checked<()> {
        if f.recursive {
            return Err("recursive loops are not allowed".into());
        }
        let iter = self.expr(&f.iter)?;
        let element = Bound::text(iter.item);
        let names: Vec<&'a str> = match &f.target {
            ast::Expr::Var(v) => vec![v.id],
            ast::Expr::List(l) => l
                .items
                .iter()
                .map(|item| match item {
                    ast::Expr::Var(v) => Ok(v.id),
                    _ => Err("a loop may only unpack into names".to_owned()),
                })
                .collect::<Checked<_>>()?,
            _ => return Err("a loop may only assign to names".into()),
        };
        let outer = self.scopes.len();
        self.scopes.extend(names.into_iter().map(|n| (n, element)));
        self.loops.push(iter);
        let result = (|| {
            if let Some(filter) = &f.filter_expr {
                self.expr(filter)?;
            }
            self.stmts(&f.body)
        })();
        self.loops.pop();
        self.scopes.truncate(outer);
        result?;
        self.stmts(&f.else_body)
    }

    /// A value of at most `size` bytes is built as text here.
    fn materialized(&self, size: usize) -> Checked<()> {
        if size > self.cap {
            return Err(format!(
                "an expression can grow to {} bytes, more than the {}-byte limit of the \
                 rendered text",
                display_size(size),
                self.cap
            ));
        }
        Ok(())
    }

    fn expr(&mut self, expr: &'a ast::Expr<'a>) -> Checked<Bound> {
        self.nested(|this| this.expr_inner(expr))
    }

    fn expr_inner(&mut self, expr: &'a ast::Expr<'a>) -> Checked<Bound> {
        use ast::Expr;
        Ok(match expr {
            Expr::Var(v) => self.var(v.id)?,
            Expr::Const(c) => Bound::text(c.value.to_string().len()),
            Expr::Slice(s) => {
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part)?;
                }
                self.expr(&s.expr)?
            }
            Expr::UnaryOp(u) => {
                self.expr(&u.expr)?;
                Bound::text(NUMBER)
            }
            Expr::BinOp(b) => self.bin_op(b)?,
            Expr::Compare(c) => {
                self.expr(&c.expr)?;
                for op in &c.ops {
                    self.expr(&op.expr)?;
                }
                Bound::text(BOOL)
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr)?;
                let yes = self.expr(&i.true_expr)?;
                let no = match &i.false_expr {
                    Some(e) => self.expr(e)?,
                    None => Bound::text(0),
                };
                Bound {
                    size: yes.size.max(no.size),
                    item: yes.item.max(no.item),
                }
            }
            Expr::Filter(f) => self.filter(f)?,
            Expr::Test(t) => {
                self.expr(&t.expr)?;
                self.args(&t.args)?;
                Bound::text(BOOL)
            }
            Expr::GetAttr(g) => self.get_attr(g)?,
            Expr::GetItem(g) => {
                self.expr(&g.subscript_expr)?;
                let base = self.expr(&g.expr)?;
                Bound::text(base.size.max(base.item))
            }
            Expr::Call(c) => self.call(c)?,
            Expr::List(l) => {
                let mut size = 2usize;
                let mut item = 0;
                for e in &l.items {
                    let b = self.expr(e)?;
                    // As text, a list quotes and escapes its strings.
                    size = size
                        .saturating_add(b.size.saturating_mul(ESCAPE_GROWTH))
                        .saturating_add(4);
                    item = item.max(b.size);
                }
                Bound { size, item }
            }
            Expr::Map(_) => return Err("map literals are not allowed".into()),
        })
    }

    fn var(&self, name: &str) -> Checked<Bound> {
        if let Some((_, bound)) = self.scopes.iter().rev().find(|(n, _)| *n == name) {
            return Ok(*bound);
        }
        if let Some((_, size)) = ATTENDEE_FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(Bound::text(*size));
        }
        if name == "conference" {
            let size = CONFERENCE_FIELDS
                .iter()
                .map(|(_, s)| s * ESCAPE_GROWTH + 32)
                .sum();
            return Ok(Bound::text(size));
        }
        Err(format!("unknown variable `{name}`"))
    }

    fn get_attr(&mut self, g: &'a ast::GetAttr<'a>) -> Checked<Bound> {
        if let ast::Expr::Var(v) = &g.expr
            && !self.scopes.iter().any(|(n, _)| *n == v.id)
        {
            if v.id == "conference" {
                return CONFERENCE_FIELDS
                    .iter()
                    .find(|(n, _)| *n == g.name)
                    .map(|(_, size)| Bound::text(*size))
                    .ok_or_else(|| format!("unknown variable `conference.{}`", g.name));
            }
            if v.id == "loop" {
                let Some(iter) = self.loops.last() else {
                    return Err("`loop` is only defined inside a for loop".into());
                };
                return match g.name {
                    "index" | "index0" | "revindex" | "revindex0" | "length" | "first" | "last"
                    | "depth" | "depth0" => Ok(Bound::text(NUMBER)),
                    "previtem" | "nextitem" => Ok(Bound::text(iter.item)),
                    other => Err(format!("`loop.{other}` is not allowed")),
                };
            }
        }
        let base = self.expr(&g.expr)?;
        Ok(Bound::text(base.size.max(base.item)))
    }

    fn call(&mut self, c: &'a ast::Call<'a>) -> Checked<Bound> {
        let args = self.args(&c.args)?;
        match &c.expr {
            ast::Expr::Var(v) if v.id == "range" => {
                // Constant arguments give the exact length; otherwise assume the maximum.
                let items = range_len(&c.args).unwrap_or(RANGE_ITEMS);
                Ok(Bound {
                    size: items.saturating_mul(NUMBER.min(24)).saturating_add(2),
                    item: NUMBER,
                })
            }
            ast::Expr::GetAttr(g)
                if matches!(&g.expr, ast::Expr::Var(v) if v.id == "loop")
                    && !self.loops.is_empty() =>
            {
                match g.name {
                    "cycle" => Ok(Bound::text(args.iter().map(|b| b.size).max().unwrap_or(0))),
                    "changed" => Ok(Bound::text(BOOL)),
                    other => Err(format!("`loop.{other}()` is not allowed")),
                }
            }
            _ => Err("only range(), loop.cycle() and loop.changed() may be called".into()),
        }
    }

    fn args(&mut self, args: &'a [ast::CallArg<'a>]) -> Checked<Vec<Bound>> {
        args.iter()
            .map(|arg| match arg {
                ast::CallArg::Pos(e) | ast::CallArg::Kwarg(_, e) => self.expr(e),
                _ => Err("argument splats are not allowed".to_owned()),
            })
            .collect()
    }

    fn bin_op(&mut self, b: &'a ast::BinOp<'a>) -> Checked<Bound> {
        use ast::BinOpKind as Op;
        if matches!(b.op, Op::Mul) {
            return Err(
                "the `*` operator is not allowed in notification templates (it repeats text)"
                    .into(),
            );
        }
        let left = self.expr(&b.left)?;
        let right = self.expr(&b.right)?;
        Ok(match b.op {
            Op::Concat | Op::Add => {
                let size = left.size.saturating_add(right.size);
                self.materialized(size)?;
                Bound {
                    size,
                    item: left.item.max(right.item),
                }
            }
            Op::ScAnd | Op::ScOr => Bound {
                size: left.size.max(right.size),
                item: left.item.max(right.item),
            },
            Op::Eq | Op::Ne | Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::In => Bound::text(BOOL),
            _ => Bound::text(NUMBER),
        })
    }

    fn filter(&mut self, f: &'a ast::Filter<'a>) -> Checked<Bound> {
        let input = match &f.expr {
            Some(e) => self.expr(e)?,
            None => return Err("filter blocks are not allowed".into()),
        };
        let args = self.args(&f.args)?;
        let arg = |i: usize| args.get(i).map_or(0, |b| b.size);
        let widest = args.iter().map(|b| b.size).max().unwrap_or(0);
        let s = input.size;
        let size = match f.name {
            "upper" | "lower" | "title" => s.saturating_mul(CASE_GROWTH),
            "trim" | "string" | "reverse" => s,
            "first" | "last" => input.item,
            "default" | "d" => s.max(widest),
            "length" | "count" | "int" | "float" | "abs" | "round" => NUMBER,
            // Every character (and the gaps, for an empty pattern) may become the new text.
            "date" => super::template_filters::DATE_MAX_BYTES,
            "money" => super::template_filters::MONEY_MAX_BYTES,
            "replace" => s.saturating_add(1).saturating_mul(arg(1).saturating_add(1)),
            "join" => s.saturating_add(1).saturating_mul(arg(0).saturating_add(1)),
            other => {
                return Err(format!(
                    "the filter `{other}` is not allowed in notification templates; allowed: \
                     {}",
                    ALLOWED_FILTERS.join(", ")
                ));
            }
        };
        self.materialized(size)?;
        Ok(Bound::text(size))
    }
}

/// The filters a template may use, with a known bound on what they produce.
pub const ALLOWED_FILTERS: &[&str] = &[
    "upper", "lower", "title", "trim", "string", "reverse", "first", "last", "default", "d",
    "length", "count", "int", "float", "abs", "round", "replace", "join", "date", "money",
];

/// The string constants a template compares with, for trial attendees that take its
/// branches (`{% if first_name == 'Bob' %}`).
pub fn string_constants(source: &str, _name: &str) -> Vec<String> {
    machinery::tokenize(source, false, SyntaxConfig, WhitespaceConfig::default())
        .filter_map(|token| match token {
            Ok((machinery::Token::Str(s), _)) => Some(s.to_owned()),
            Ok((machinery::Token::String(s), _)) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn range_len(args: &[ast::CallArg<'_>]) -> Option<usize> {
    let mut values = Vec::new();
    for arg in args {
        let ast::CallArg::Pos(ast::Expr::Const(c)) = arg else {
            return None;
        };
        values.push(i64::try_from(c.value.clone()).ok()?);
    }
    let (start, stop, step) = match values.as_slice() {
        [stop] => (0, *stop, 1),
        [start, stop] => (*start, *stop, 1),
        [start, stop, step] if *step != 0 => (*start, *stop, *step),
        _ => return None,
    };
    let span = if step > 0 { stop - start } else { start - stop };
    usize::try_from(span.max(0) / step.abs()).ok()
}

fn display_size(size: usize) -> String {
    if size == usize::MAX {
        "an unbounded number of".into()
    } else {
        size.to_string()
    }
}

fn statement_name(stmt: &ast::Stmt<'_>) -> &'static str {
    match stmt {
        ast::Stmt::WithBlock(_) => "`with`",
        ast::Stmt::Set(_) | ast::Stmt::SetBlock(_) => "`set`",
        ast::Stmt::AutoEscape(_) => "`autoescape`",
        ast::Stmt::FilterBlock(_) => "`filter`",
        ast::Stmt::Macro(_) => "`macro`",
        ast::Stmt::CallBlock(_) => "`call`",
        ast::Stmt::Do(_) => "`do`",
        _ => "`block`, `extends`, `include` and `import`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 100_000;

    fn refused(source: &str) -> String {
        check(source, "t", CAP).expect_err(source)
    }

    #[test]
    fn ordinary_templates_pass() {
        for source in [
            "Hello {{ first_name }} {{ last_name|upper }}",
            "{% if first_name != 'Ada' %}Hi {{ first_name|title }}{% else %}Dear Ada{% endif %}",
            "{% for c in city %}{{ loop.index }}{{ c }}{% endfor %}",
            "{% for i in range(3) %}{{ i }}{% endfor %}",
            "{{ (first_name ~ ' ' ~ last_name)|replace(' ', '_') }} {{ conference.name }}",
            "{{ company|default('-') }} {{ email|lower }}",
            "{{ conference.starts_on|date('long') }} {{ conference.price|money }}",
        ] {
            check(source, "t", CAP).unwrap_or_else(|e| panic!("{source}: {e}"));
        }
    }

    #[test]
    fn the_issue_s_memory_bombs_are_refused() {
        assert!(refused("{{ 'x' * 10000000 }}").contains('*'));
        assert!(refused("{{ ('x'*100000000)|replace('x','xxxxxxxxxx')|length }}").contains('*'));
        // Growth without `*`: chained replaces multiply.
        let chained = format!(
            "{{{{ first_name{} }}}}",
            "|replace('a','aaaaaaaaaa')".repeat(6)
        );
        assert!(refused(&chained).contains("limit"), "{}", refused(&chained));
        // Doubling through a variable needs `set`.
        assert!(refused("{% set a = first_name ~ first_name %}{{ a }}").contains("set"));
        assert!(refused("{% with a = first_name %}{{ a }}{% endwith %}").contains("with"));
        assert!(refused("{% macro m() %}x{% endmacro %}{{ m() }}").contains("macro"));
        assert!(refused("{% include 'message.txt' %}").contains("include"));
        assert!(refused("{% filter upper %}x{% endfilter %}").contains("filter"));
    }

    #[test]
    fn unknown_filters_and_calls_are_refused() {
        assert!(refused("{{ first_name|center(1000000000) }}").contains("center"));
        assert!(refused("{{ first_name|indent(1000000000) }}").contains("indent"));
        assert!(refused("{{ lipsum(1000) }}").contains("range()"));
        assert!(refused("{{ {'a': 1} }}").contains("map"));
    }

    #[test]
    fn a_large_range_cannot_be_turned_into_text() {
        assert!(check("{% for i in range(100000) %}.{% endfor %}", "t", CAP).is_ok());
        assert!(refused("{{ range(100000)|join(',') }}").contains("limit"));
        assert!(refused("{{ range(first_name|length) }}").contains("limit"));
    }

    #[test]
    fn loop_variables_carry_the_bound_of_what_they_iterate() {
        let source =
            "{% for a in [first_name, last_name] %}{{ a|replace('x', 'yyyyyyyy') }}{% endfor %}";
        assert!(check(source, "t", CAP).is_ok());
        assert!(check(source, "t", 1000).is_err());
    }
}
