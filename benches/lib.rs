//! telemetra's benchmarks (`cargo bench -p telemetra-benches`): each target compares telemetra
//! with a named alternative in the same run; `README.md` holds the measured tables. This
//! library is empty: the package exists so that the benchmarks' dependencies (criterion, the
//! alternatives) are not the published facade's dev-dependencies.
