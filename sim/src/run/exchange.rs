//! What a campus run exchanges between the processes that share it: each process runs a
//! contiguous range of rows; once per facility step they add up their rows' heat and headroom,
//! and at the end their grid series and each row's outcome. One process alone ([`Alone`])
//! exchanges nothing; under MPI ([`Mpi`], the `mpi` feature) it is `MPI_Allreduce` on
//! integers and `MPI_Allgatherv` on bytes, so every process ends with the same numbers.

use std::ops::Range;

/// The processes of one campus run.
pub trait Exchange {
    /// This process's number and how many there are.
    fn rank_size(&self) -> (usize, usize);

    /// Adds `values` element-wise across the processes, in place (integers: the same bits
    /// in any order).
    fn sum(&self, values: &mut [i64]);

    /// Every process's `bytes`, in process order, on every process.
    fn gather(&self, bytes: &[u8]) -> Vec<Vec<u8>>;

    /// This process's rows of `rows`: a contiguous range, the first `rows % size` processes
    /// one more.
    fn rows(&self, rows: usize) -> Range<usize> {
        let (rank, size) = self.rank_size();
        let (each, extra) = (rows / size.max(1), rows % size.max(1));
        let start = rank * each + rank.min(extra);
        start..start + each + usize::from(rank < extra)
    }

    /// Whether this process reports (the first).
    fn reports(&self) -> bool {
        self.rank_size().0 == 0
    }
}

/// One process: nothing to exchange.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alone;

impl Exchange for Alone {
    fn rank_size(&self) -> (usize, usize) {
        (0, 1)
    }

    fn sum(&self, _values: &mut [i64]) {}

    fn gather(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        vec![bytes.to_vec()]
    }
}

/// The processes of an MPI job (`mpirun -np N racksim campus ...`), over its world.
#[cfg(feature = "mpi")]
pub struct Mpi {
    world: mpi::topology::SimpleCommunicator,
}

#[cfg(feature = "mpi")]
impl Mpi {
    /// Over the world communicator of the initialised MPI `universe`.
    pub fn new(universe: &mpi::environment::Universe) -> Self {
        Self {
            world: universe.world(),
        }
    }
}

#[cfg(feature = "mpi")]
impl Exchange for Mpi {
    fn rank_size(&self) -> (usize, usize) {
        use mpi::traits::Communicator;
        (
            usize::try_from(self.world.rank()).unwrap_or(0),
            usize::try_from(self.world.size()).unwrap_or(1),
        )
    }

    fn sum(&self, values: &mut [i64]) {
        use mpi::collective::SystemOperation;
        use mpi::traits::CommunicatorCollectives;
        let local = values.to_vec();
        self.world
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }

    fn gather(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        use mpi::datatype::PartitionMut;
        use mpi::traits::{Communicator, CommunicatorCollectives};
        let size = usize::try_from(self.world.size()).unwrap_or(1);
        let mut counts = vec![0i32; size];
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.world.all_gather_into(&len, &mut counts[..]);
        let displs: Vec<i32> = counts
            .iter()
            .scan(0i32, |at, n| {
                let here = *at;
                *at += n;
                Some(here)
            })
            .collect();
        let total: usize = counts
            .iter()
            .map(|n| usize::try_from(*n).unwrap_or(0))
            .sum();
        let mut all = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(bytes, &mut partition);
        }
        let mut out = Vec::with_capacity(size);
        let mut at = 0;
        for n in &counts {
            let n = usize::try_from(*n).unwrap_or(0);
            out.push(all.get(at..at + n).map(<[u8]>::to_vec).unwrap_or_default());
            at += n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Of(usize, usize);
    impl Exchange for Of {
        fn rank_size(&self) -> (usize, usize) {
            (self.0, self.1)
        }
        fn sum(&self, _: &mut [i64]) {}
        fn gather(&self, b: &[u8]) -> Vec<Vec<u8>> {
            vec![b.to_vec()]
        }
    }

    #[test]
    fn the_rows_split_into_contiguous_ranges_covering_all() {
        let ranges: Vec<Range<usize>> = (0..3).map(|r| Of(r, 3).rows(100)).collect();
        assert_eq!(ranges, [0..34, 34..67, 67..100]);
        assert_eq!(Of(1, 4).rows(2), 1..2);
        assert_eq!(
            Of(3, 4).rows(2),
            2..2,
            "more processes than rows: some get none"
        );
        assert_eq!(Alone.rows(7), 0..7);
    }
}
