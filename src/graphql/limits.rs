//! What one GraphQL request may cost, checked on the parsed document before validation or
//! execution, so a refused request costs the server almost nothing.
//!
//! The cost model follows GitHub's node limit and Shopify's calculated cost:
//! - every field costs [`FIELD_COST`] (`__typename` is free);
//! - a field that reads the database ([`DATABASE_FIELDS`], every root field, every
//!   connection and its `totalCount`) costs [`DATABASE_COST`] more;
//! - below a paginated field, the fields under its lists (`nodes`, `edges`) cost once per row
//!   it may return: `first` (default [`DEFAULT_PAGE`]), and at least one, so `first: 0` is not
//!   free.
//!
//! Beside the cost: caps on nesting, aliases, root fields and public mutations, and NUL bytes
//! are refused here, once for every string input. Introspection is measured apart (graphql-js
//! 16.9's `MaxIntrospectionDepthRule`: at most [`MAX_INTROSPECTION_LISTS`] nested
//! `fields`/`inputFields`/`interfaces`/`possibleTypes`, and its own depth cap), so
//! `getIntrospectionQuery()` and GraphiQL's docs pass while the ordinary depth cap stays tight.
//!
//! Public registrations are also rate limited here ([`crate::rate_limit`]), so a refused
//! registration never reaches the database.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, Field, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{
    ErrorExtensions, Name, Pos, Positioned, ServerError, ServerResult, Value, Variables,
};

use crate::config::ApiLimits;
use crate::error::ApiError;
use crate::rate_limit::RegistrationLimiter;

/// The base cost of a field.
pub const FIELD_COST: u64 = 1;
/// The extra cost of a field whose resolver runs a database query.
pub const DATABASE_COST: u64 = 10;
/// Rows a paginated field returns when `first` is not given.
pub const DEFAULT_PAGE: u64 = 20;
/// The largest page a paginated field returns (`PageRequest`).
pub const MAX_PAGE: u64 = 100;
/// Nested type lists allowed inside introspection, as graphql-js allows.
pub const MAX_INTROSPECTION_LISTS: usize = 3;
/// Field visits after which a document is refused whatever the settings: expanding fragments
/// can multiply a small document, and this bounds the walk itself.
const MAX_VISITS: usize = 100_000;

/// Fields below the root whose resolver reads the database, as `Type.field`. Root fields and
/// connections are charged without being listed. A unit test checks that each still exists.
pub const DATABASE_FIELDS: &[&str] = &[
    "Notification.conference",
    "Notification.deliveries",
    "Delivery.attendee",
];

/// Mutations anyone may call: at most `GRAPHQL_MAX_PUBLIC_MUTATIONS` per request.
pub const PUBLIC_MUTATIONS: &[&str] = &["registerAttendee"];

const INTROSPECTION_LISTS: &[&str] = &["fields", "inputFields", "interfaces", "possibleTypes"];

/// The caller's address as the HTTP layer determined it (peer or trusted proxy header).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

/// The extension that enforces [`ApiLimits`] on every operation.
pub struct RequestLimits {
    limits: Arc<ApiLimits>,
    registrations: Option<Arc<RegistrationLimiter>>,
}

impl RequestLimits {
    pub fn new(limits: &ApiLimits) -> Self {
        Self {
            limits: Arc::new(limits.clone()),
            registrations: RegistrationLimiter::new(limits.registration_rate).map(Arc::new),
        }
    }
}

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            limits: self.limits.clone(),
            registrations: self.registrations.clone(),
        })
    }
}

struct LimitsExtension {
    limits: Arc<ApiLimits>,
    registrations: Option<Arc<RegistrationLimiter>>,
}

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.contains('\0') || variables.iter().any(|(_, v)| has_nul(v)) {
            return Err(nul_refusal(None));
        }
        let document = next.run(ctx, query, variables).await?;
        let measured = measure(&ctx.schema_env.registry, &document, variables, &self.limits)?;
        if let (Some(limiter), false) = (&self.registrations, measured.registrations.is_empty()) {
            let client = ctx
                .query_data
                .and_then(|data| data.get(&std::any::TypeId::of::<ClientAddress>()))
                .and_then(|any| any.downcast_ref::<ClientAddress>())
                .map(|c| c.0);
            limiter
                .acquire(client, &measured.registrations)
                .map_err(|retry_after| {
                    refusal(
                        ApiError::RateLimited {
                            retry_after_secs: retry_after.as_secs().max(1),
                        },
                        None,
                    )
                })?;
        }
        Ok(document)
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(k, v)| k.as_str().contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The same for a literal in the document (`"a\u0000b"` is a NUL once parsed).
fn literal_has_nul(value: &async_graphql_value::Value) -> bool {
    use async_graphql_value::Value as Literal;
    match value {
        Literal::String(s) => s.contains('\0'),
        Literal::List(items) => items.iter().any(literal_has_nul),
        Literal::Object(fields) => fields.values().any(literal_has_nul),
        _ => false,
    }
}

fn nul_refusal(pos: Option<Pos>) -> ServerError {
    refusal(
        ApiError::validation("input", "must not contain NUL characters"),
        pos,
    )
}

/// `error` as a request-level error: at `pos` in the document, or at no location.
pub(crate) fn refusal(error: ApiError, pos: Option<Pos>) -> ServerError {
    let mut server = error.extend().into_server_error(pos.unwrap_or_default());
    if pos.is_none() {
        server.locations.clear();
    }
    server
}

fn exceeded(limit: &'static str, message: String, pos: Pos) -> ServerError {
    refusal(ApiError::LimitExceeded { limit, message }, Some(pos))
}

/// What the walk found in a document that passed every cap.
#[derive(Debug, Default)]
pub struct Measured {
    /// The largest cost of one operation.
    pub cost: u64,
    /// The conference ids of the public registrations it makes.
    pub registrations: Vec<String>,
}

/// Measures every operation of `document` against `limits`.
pub fn measure(
    registry: &Registry,
    document: &ExecutableDocument,
    variables: &Variables,
    limits: &ApiLimits,
) -> ServerResult<Measured> {
    let mut measured = Measured::default();
    let mut visits = 0;
    for (_, operation) in document.operations.iter() {
        let root = match operation.node.ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        let mut walk = Walk {
            registry,
            fragments: &document.fragments,
            variables,
            limits,
            cost: 0,
            aliases: 0,
            visits: &mut visits,
            expanding: Vec::new(),
            registrations: Vec::new(),
        };
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value
                && has_nul(&default.node)
            {
                return Err(nul_refusal(Some(default.pos)));
            }
        }
        let selections = &operation.node.selection_set;
        let roots = walk.root_fields(selections, operation.node.ty)?;
        if let Some(max) = limits.max_root_fields
            && roots > max
        {
            return Err(exceeded(
                "rootFields",
                format!("the operation has {roots} root fields; at most {max} are allowed"),
                selections.pos,
            ));
        }
        walk.selections(selections, root, Scope::root())?;
        if let Some(max) = limits.max_public_mutations
            && walk.registrations.len() > max
        {
            return Err(exceeded(
                "publicMutations",
                format!(
                    "the operation calls {} public mutations; at most {max} per request",
                    walk.registrations.len()
                ),
                selections.pos,
            ));
        }
        measured.cost = measured.cost.max(walk.cost);
        measured.registrations.extend(walk.registrations);
    }
    Ok(measured)
}

/// Where in the document a selection set is.
#[derive(Clone, Copy)]
struct Scope {
    /// Depth of ordinary fields (the root's fields are at 1).
    depth: usize,
    /// Inside `__schema` or `__type`: its depth and nested type lists.
    introspection: Option<(usize, usize)>,
    /// How many times each field here is resolved.
    multiplier: u64,
    /// The page size of the paginated field above, applied by the next list field.
    page: Option<u64>,
    is_root: bool,
}

impl Scope {
    fn root() -> Self {
        Self {
            depth: 0,
            introspection: None,
            multiplier: 1,
            page: None,
            is_root: true,
        }
    }
}

struct Walk<'a> {
    registry: &'a Registry,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    limits: &'a ApiLimits,
    cost: u64,
    aliases: usize,
    visits: &'a mut usize,
    /// Fragments being expanded, to stop at a cycle (validation reports it afterwards).
    expanding: Vec<&'a Name>,
    registrations: Vec<String>,
}

impl<'a> Walk<'a> {
    /// Counts the root fields (through fragments), and records public mutations.
    fn root_fields(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        ty: OperationType,
    ) -> ServerResult<usize> {
        let mut count = 0;
        for selection in &set.node.items {
            self.visit(selection.pos)?;
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name == "__typename" {
                        continue;
                    }
                    count += 1;
                    if ty == OperationType::Mutation && PUBLIC_MUTATIONS.contains(&name) {
                        let conference = self.conference_of(&field.node).unwrap_or_default();
                        self.registrations.push(conference);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    count += self.root_fields(&fragment.node.selection_set, ty)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if self.expanding.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.fragments.get(name) {
                        self.expanding.push(name);
                        count += self.root_fields(&fragment.node.selection_set, ty)?;
                        self.expanding.pop();
                    }
                }
            }
        }
        Ok(count)
    }

    /// The value of `field`'s argument `name`, with variables substituted.
    fn argument(&self, field: &Field, name: &str) -> Option<Value> {
        field
            .get_argument(name)?
            .node
            .clone()
            .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
            .ok()
    }

    /// The `conferenceId` of a registration's `input` (at most a short prefix of it).
    fn conference_of(&self, field: &Field) -> Option<String> {
        match self.argument(field, "input")? {
            Value::Object(fields) => match fields.get("conferenceId")? {
                Value::String(id) => Some(crate::error::echo(id).into_owned()),
                _ => None,
            },
            _ => None,
        }
    }

    fn visit(&mut self, pos: Pos) -> ServerResult<()> {
        *self.visits += 1;
        if *self.visits > MAX_VISITS {
            return Err(exceeded(
                "complexity",
                format!(
                    "the query is too complex: more than {MAX_VISITS} fields once fragments are expanded"
                ),
                pos,
            ));
        }
        Ok(())
    }

    fn selections(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        parent: Option<&str>,
        scope: Scope,
    ) -> ServerResult<()> {
        for selection in &set.node.items {
            self.visit(selection.pos)?;
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        self.aliases += 1;
                        if let Some(max) = self.limits.max_aliases
                            && self.aliases > max
                        {
                            return Err(exceeded(
                                "aliases",
                                format!("the operation uses more than {max} aliases"),
                                selection.pos,
                            ));
                        }
                    }
                    self.field(field, selection.pos, parent, scope)?;
                }
                Selection::InlineFragment(fragment) => {
                    let parent = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .or(parent);
                    self.selections(&fragment.node.selection_set, parent, scope)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if self.expanding.contains(&name) {
                        continue;
                    }
                    if let Some(fragment) = self.fragments.get(name) {
                        self.expanding.push(name);
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.selections(&fragment.node.selection_set, Some(on), scope)?;
                        self.expanding.pop();
                    }
                }
            }
        }
        Ok(())
    }

    fn field(
        &mut self,
        field: &'a Field,
        pos: Pos,
        parent: Option<&str>,
        scope: Scope,
    ) -> ServerResult<()> {
        let name = field.name.node.as_str();
        if name == "__typename" {
            return Ok(());
        }
        if let Some((_, value)) = field
            .arguments
            .iter()
            .find(|(_, v)| literal_has_nul(&v.node))
        {
            return Err(nul_refusal(Some(value.pos)));
        }
        let mut inner = scope;
        inner.is_root = false;
        if let Some((depth, lists)) = scope
            .introspection
            .or_else(|| matches!(name, "__schema" | "__type").then_some((0, 0)))
        {
            let lists = lists + usize::from(INTROSPECTION_LISTS.contains(&name));
            if lists >= MAX_INTROSPECTION_LISTS {
                return Err(exceeded(
                    "introspectionDepth",
                    format!("introspection nests `{name}` too deep"),
                    pos,
                ));
            }
            if let Some(max) = self.limits.max_introspection_depth
                && depth + 1 > max
            {
                return Err(exceeded(
                    "introspectionDepth",
                    format!("introspection is nested too deep (more than {max} levels)"),
                    pos,
                ));
            }
            // Introspection reads the schema in memory: one unit per selected field, however
            // many types it lists.
            self.charge(FIELD_COST * scope.multiplier, pos)?;
            inner.introspection = Some((depth + 1, lists));
            return self.selections(&field.selection_set, None, inner);
        }
        inner.depth += 1;
        if let Some(max) = self.limits.max_depth
            && inner.depth > max
        {
            return Err(exceeded(
                "depth",
                format!("the query is nested too deep (more than {max} levels)"),
                pos,
            ));
        }
        let meta = parent
            .and_then(|p| self.registry.types.get(p))
            .and_then(|t| t.field_by_name(name));
        let ty = meta.map(|m| m.ty.as_str()).unwrap_or_default();
        let concrete = MetaTypeName::concrete_typename(ty);
        let is_connection = concrete.ends_with("Connection");
        let reads_database = scope.is_root
            || is_connection
            || (name == "totalCount" && parent.is_some_and(|p| p.ends_with("Connection")))
            || parent.is_some_and(|p| DATABASE_FIELDS.contains(&format!("{p}.{name}").as_str()));
        let own = FIELD_COST + if reads_database { DATABASE_COST } else { 0 };
        self.charge(own.saturating_mul(scope.multiplier), pos)?;

        if is_connection {
            inner.page = Some(self.page_size(field));
        } else if MetaTypeName::create(ty).is_list() {
            // A list below a paginated field repeats per row; any other list counts once.
            inner.multiplier = scope.multiplier.saturating_mul(scope.page.unwrap_or(1));
            inner.page = None;
        }
        let parent = (!concrete.is_empty()).then_some(concrete);
        self.selections(&field.selection_set, parent, inner)
    }

    /// Rows a paginated field may return: `first` (a literal or a variable), at least 1.
    fn page_size(&self, field: &Field) -> u64 {
        match self.argument(field, "first") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(1).clamp(1, MAX_PAGE),
            _ => DEFAULT_PAGE,
        }
    }

    fn charge(&mut self, cost: u64, pos: Pos) -> ServerResult<()> {
        self.cost = self.cost.saturating_add(cost);
        if let Some(max) = self.limits.max_complexity
            && self.cost > max
        {
            return Err(exceeded(
                "complexity",
                format!("the query is too complex: it costs more than {max}"),
                pos,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_graphql::Schema;

    use super::*;
    use crate::graphql::{MutationRoot, QueryRoot, SubscriptionRoot};

    type Outcome = Result<u64, String>;

    /// Measures a document with the schema's registry and stops before it runs.
    struct Probe {
        limits: ApiLimits,
        outcome: Arc<Mutex<Option<Outcome>>>,
    }

    impl ExtensionFactory for Probe {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(Probe {
                limits: self.limits.clone(),
                outcome: self.outcome.clone(),
            })
        }
    }

    #[async_trait::async_trait]
    impl Extension for Probe {
        async fn parse_query(
            &self,
            ctx: &ExtensionContext<'_>,
            query: &str,
            variables: &Variables,
            next: NextParseQuery<'_>,
        ) -> ServerResult<ExecutableDocument> {
            let registry = &ctx.schema_env.registry;
            for entry in DATABASE_FIELDS {
                let (ty, field) = entry.split_once('.').unwrap_or_default();
                let exists = registry
                    .types
                    .get(ty)
                    .and_then(|t| t.field_by_name(field))
                    .is_some();
                assert!(exists, "{entry} is not in the schema any more");
            }
            let document = next.run(ctx, query, variables).await?;
            let outcome = measure(registry, &document, variables, &self.limits)
                .map(|m| m.cost)
                .map_err(|e| {
                    let ext = e.extensions.unwrap_or_default();
                    match ext.get("limit") {
                        Some(Value::String(limit)) => limit.clone(),
                        _ => e.message,
                    }
                });
            *self.outcome.lock().unwrap() = Some(outcome);
            Err(ServerError::new("measured", None))
        }
    }

    fn defaults() -> ApiLimits {
        crate::config::Settings::from_lookup(|_| None)
            .unwrap()
            .limits
    }

    async fn measure_with(limits: ApiLimits, query: &str) -> Outcome {
        let outcome = Arc::new(Mutex::new(None));
        let schema = Schema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            SubscriptionRoot,
        )
        .extension(Probe {
            limits,
            outcome: outcome.clone(),
        })
        .finish();
        schema.execute(query).await;
        outcome.lock().unwrap().take().unwrap()
    }

    async fn cost(query: &str) -> Outcome {
        measure_with(defaults(), query).await
    }

    #[tokio::test]
    async fn a_list_costs_its_page_and_first_zero_is_not_free() {
        let db = DATABASE_COST;
        // conferences (a page read), totalCount (a count).
        assert_eq!(
            cost("{ conferences(first: 0) { totalCount } }").await,
            Ok(1 + db + 1 + db)
        );
        // nodes is a list: its fields count once per row.
        let page = |n: u64| 1 + db + 1 + n * 2;
        assert_eq!(
            cost("{ conferences(first: 0) { nodes { id name } } }").await,
            Ok(page(1))
        );
        assert_eq!(
            cost("{ conferences { nodes { id name } } }").await,
            Ok(page(DEFAULT_PAGE))
        );
        assert_eq!(
            cost("{ conferences(first: 100) { nodes { id name } } }").await,
            Ok(page(100))
        );
        assert_eq!(
            cost("{ conferences(first: 5000) { nodes { id name } } }").await,
            Ok(page(MAX_PAGE))
        );
        // __typename is free, as clients add it everywhere.
        assert_eq!(
            cost("{ __typename conferences(first: 0) { __typename totalCount } }").await,
            Ok(1 + db + 1 + db)
        );
    }

    #[tokio::test]
    async fn nested_lists_multiply_and_database_lookups_are_charged_per_row() {
        // 10 notifications x (id + conference lookup).
        let q = "{ notifications(conferenceId: \"x\", first: 10) { edges { node { id conference { name } } } } }";
        let db = DATABASE_COST;
        let expected = 1 + db + 1 + 10 * (1 + 1 + (1 + db) + 1);
        assert_eq!(cost(q).await, Ok(expected));
        let q = "{ notification(id: \"x\") { deliveries(first: 100) { nodes { attendee { email } } } } }";
        let expected = (1 + db) + (1 + db) + 1 + 100 * ((1 + db) + 1);
        assert_eq!(cost(q).await, Ok(expected));
    }

    #[tokio::test]
    async fn fragments_count_as_if_written_in_place() {
        let q = "query { ...F } fragment F on Query { a: conferences { totalCount } b: conferences { totalCount } }";
        let db = DATABASE_COST;
        assert_eq!(cost(q).await, Ok(2 * (1 + db + 1 + db)));
    }

    #[tokio::test]
    async fn each_cap_names_itself() {
        let mut limits = defaults();
        limits.max_aliases = Some(2);
        let q = "{ a: conferences { totalCount } b: conferences { totalCount } c: conferences { totalCount } }";
        assert_eq!(measure_with(limits, q).await, Err("aliases".into()));
        let mut deep = String::from(
            "{ notifications(conferenceId: \"x\") { nodes { conference { name } } } }",
        );
        assert!(cost(&deep).await.is_ok());
        let mut limits = defaults();
        limits.max_depth = Some(3);
        assert_eq!(measure_with(limits, &deep).await, Err("depth".into()));
        deep = "mutation { a: registerAttendee(input: {conferenceId: \"c\"}) { id } b: registerAttendee(input: {conferenceId: \"c\"}) { id } }".into();
        assert_eq!(cost(&deep).await, Err("publicMutations".into()));
    }

    #[tokio::test]
    async fn introspection_is_measured_apart() {
        // Deeper than GRAPHQL_MAX_DEPTH, as the standard introspection query is.
        let of_type = "ofType { ".repeat(8) + "name" + &" }".repeat(8);
        let q = format!("{{ __schema {{ types {{ fields {{ type {{ {of_type} }} }} }} }} }}");
        assert!(cost(&q).await.is_ok(), "{q}");
        let q = "{ __type(name: \"Query\") { fields { type { fields { type { fields { name } } } } } } }";
        assert_eq!(cost(q).await, Err("introspectionDepth".into()));
    }
}
