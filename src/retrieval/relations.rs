//! The relationships of a snapshot as a graph: for each dataset, its neighbours through
//! foreign keys (either direction) and lineage, with the columns that join them. Retrieval
//! lifts linked datasets of its top results; answers and `/v1/join-path` walk it. Only
//! neighbours the caller may see are ever followed.

use std::collections::{HashMap, VecDeque};

use crate::catalog::{Catalog, LinkKind};

/// A neighbour of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub other: u32,
    pub kind: LinkKind,
    /// For a foreign key, the joining columns: (this dataset's column, the other's column).
    pub on: Vec<(String, String)>,
    /// `true` when this dataset refers to (or is derived from) the other.
    pub outgoing: bool,
}

impl Link {
    /// How the hop reads in an answer: `customer_id = customers.customer_id`, or lineage.
    pub fn join_condition(&self, this: &str, other: &str) -> String {
        if self.kind == LinkKind::Lineage {
            return if self.outgoing {
                format!("{this} is derived from {other}")
            } else {
                format!("{other} is derived from {this}")
            };
        }
        let short = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
        self.on
            .iter()
            .map(|(a, b)| format!("{}.{a} = {}.{b}", short(this), short(other)))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// (this dataset, the other, kind, outgoing).
type PairKey = (u32, u32, LinkKind, bool);

/// Every dataset's links.
#[derive(Debug, Default)]
pub struct Links {
    by_dataset: Vec<Vec<Link>>,
}

impl Links {
    pub fn build(catalog: &Catalog) -> Links {
        let mut by_pair: HashMap<PairKey, Vec<(String, String)>> = HashMap::new();
        let column = |d: u32, c: Option<u32>| -> String {
            c.and_then(|c| catalog.datasets.get(d as usize)?.columns.get(c as usize))
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        for r in catalog.relationships() {
            if r.from == r.to {
                continue;
            }
            let (a, b) = (column(r.from, r.from_column), column(r.to, r.to_column));
            let out = by_pair.entry((r.from, r.to, r.kind, true)).or_default();
            if r.kind == LinkKind::ForeignKey {
                out.push((a.clone(), b.clone()));
            }
            let back = by_pair.entry((r.to, r.from, r.kind, false)).or_default();
            if r.kind == LinkKind::ForeignKey {
                back.push((b, a));
            }
        }
        let mut by_dataset = vec![Vec::new(); catalog.datasets.len()];
        let mut pairs: Vec<_> = by_pair.into_iter().collect();
        pairs.sort_by_key(|pair| pair.0);
        for ((this, other, kind, outgoing), on) in pairs {
            if let Some(links) = by_dataset.get_mut(this as usize) {
                links.push(Link {
                    other,
                    kind,
                    on,
                    outgoing,
                });
            }
        }
        Links { by_dataset }
    }

    /// The links of `dataset`.
    pub fn of(&self, dataset: u32) -> &[Link] {
        self.by_dataset
            .get(dataset as usize)
            .map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.by_dataset.iter().all(Vec::is_empty)
    }

    /// The shortest path of at most `max_hops` links from `from` to `to` through datasets
    /// `allow` accepts: each hop as (from, link). `None` when there is none.
    pub fn path(
        &self,
        from: u32,
        to: u32,
        allow: impl Fn(u32) -> bool,
        max_hops: usize,
    ) -> Option<Vec<(u32, &Link)>> {
        if from == to || !allow(from) || !allow(to) {
            return None;
        }
        let mut previous: HashMap<u32, (u32, &Link)> = HashMap::new();
        let mut queue = VecDeque::from([(from, 0usize)]);
        while let Some((at, hops)) = queue.pop_front() {
            if hops == max_hops {
                continue;
            }
            for link in self.of(at) {
                if link.other == from || previous.contains_key(&link.other) || !allow(link.other) {
                    continue;
                }
                previous.insert(link.other, (at, link));
                if link.other == to {
                    let mut path = Vec::new();
                    let mut node = to;
                    while let Some(&(back, link)) = previous.get(&node) {
                        path.push((back, link));
                        node = back;
                        if node == from {
                            break;
                        }
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back((link.other, hops + 1));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn column(name: &str, references: &[&str]) -> Column {
        Column {
            name: name.into(),
            references: references.iter().map(|r| r.to_string()).collect(),
            ..Column::default()
        }
    }

    fn catalog() -> Catalog {
        let mut customers = Dataset::new("crm.customers");
        customers.columns = vec![column("customer_id", &[])];
        let mut orders = Dataset::new("sales.orders");
        orders.columns = vec![
            column("order_id", &[]),
            column("customer_id", &["crm.customers.customer_id"]),
        ];
        let mut items = Dataset::new("sales.items");
        items.columns = vec![column("order_id", &["sales.orders.order_id"])];
        let mut secret = Dataset::new("hr.secret");
        secret.columns = vec![column("customer_id", &["crm.customers.customer_id"])];
        Catalog::new(vec![customers, orders, items, secret])
    }

    #[test]
    fn links_go_both_ways_with_their_columns() {
        let links = Links::build(&catalog());
        let of_customers = links.of(0);
        assert_eq!(of_customers.len(), 2);
        assert_eq!(of_customers[0].other, 1);
        assert!(!of_customers[0].outgoing);
        assert_eq!(
            of_customers[0].on,
            vec![("customer_id".to_string(), "customer_id".to_string())]
        );
        assert_eq!(
            of_customers[0].join_condition("crm.customers", "sales.orders"),
            "customers.customer_id = orders.customer_id"
        );
    }

    #[test]
    fn paths_are_shortest_and_avoid_what_is_not_allowed() {
        let links = Links::build(&catalog());
        let path = links.path(2, 0, |_| true, 3).unwrap();
        let hops: Vec<(u32, u32)> = path.iter().map(|(a, l)| (*a, l.other)).collect();
        assert_eq!(hops, [(2, 1), (1, 0)]);
        assert!(links.path(2, 3, |d| d != 3, 3).is_none(), "hidden end");
        assert!(links.path(2, 0, |d| d != 1, 3).is_none(), "hidden middle");
        assert!(links.path(2, 0, |_| true, 1).is_none(), "too far");
    }
}
