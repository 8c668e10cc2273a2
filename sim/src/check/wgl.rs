//! General linearizability search (Wing-Gong-Lowe).
