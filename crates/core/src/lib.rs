//! msgops core
