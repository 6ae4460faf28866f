//! Group 1: point `get`, hit (uniform and Zipf 0.99) and miss, one thread, at
//! each store size, for every contender and every zestor read path.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use support::contenders::{self, Contender, Variants, Visitor};
use support::{op_sequence, sequence_len, size_label, Dist, Keys, Zipf};

/// The workloads of one store size, shared by every contender.
struct PointGets<'a> {
    criterion: &'a mut Criterion,
    keys: &'a Keys,
    label: String,
    hit_uniform: Vec<u32>,
    hit_zipf: Vec<u32>,
    /// Indexes into `keys.absent`.
    miss: Vec<u32>,
}

impl Visitor for PointGets<'_> {
    fn visit<C: Contender>(&mut self, contender: &C) {
        // Check that the workloads measure what they say before timing them.
        assert!(contender.get(&self.keys.present[0]).is_some());
        assert!(contender.get(&self.keys.absent[0]).is_none());
        let cases = [
            ("get_hit_uniform", &self.hit_uniform, &self.keys.present),
            ("get_hit_zipf", &self.hit_zipf, &self.keys.present),
            ("get_miss", &self.miss, &self.keys.absent),
        ];
        for (group_name, ops, keys) in cases {
            let mut group = self.criterion.benchmark_group(group_name);
            let id = BenchmarkId::new(contender.name(), &self.label);
            group.bench_function(id, |b| {
                let mask = ops.len() - 1;
                let mut next = 0usize;
                b.iter(|| {
                    let key = &keys[ops[next & mask] as usize];
                    next = next.wrapping_add(1);
                    contender.get(key)
                })
            });
            group.finish();
        }
    }
}

fn point_get(criterion: &mut Criterion) {
    for n in support::sizes() {
        let keys = Keys::new(n);
        let fill = keys.fill_order();
        let len = sequence_len(n);
        let zipf = Zipf::new(n, 0.99);
        let mut gets = PointGets {
            criterion: &mut *criterion,
            keys: &keys,
            label: size_label(n),
            hit_uniform: op_sequence(n, len, Dist::Uniform, None, 0, 1),
            hit_zipf: op_sequence(n, len, Dist::Zipf, Some(&zipf), 0, 2),
            miss: op_sequence(n, len, Dist::Uniform, None, 0, 3),
        };
        for &family in contenders::ALL {
            contenders::visit(family, &fill, Variants::All, &mut gets);
        }
    }
}

criterion_group! {
    name = benches;
    config = support::criterion();
    targets = point_get
}
criterion_main!(benches);
