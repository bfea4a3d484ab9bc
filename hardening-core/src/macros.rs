//! Macros the middleware crates share.

/// Defines `get_ref`, `get_mut` and `into_inner` for a service that wraps
/// an inner service, so every service of the workspace has the same three.
///
/// Call it inside the service's inherent `impl` block. Without arguments the
/// inner service is the field `inner` of type `S`; otherwise name the field
/// and its type: `define_inner_service_accessors!(service: T)`.
///
/// # Example
///
/// ```
/// pub struct Wrapped<S> {
///     inner: S,
///     count: u32,
/// }
///
/// impl<S> Wrapped<S> {
///     hardening_core::define_inner_service_accessors!();
/// }
///
/// let mut w = Wrapped { inner: 1_u8, count: 0 };
/// *w.get_mut() += 1;
/// assert_eq!(*w.get_ref(), 2);
/// assert_eq!(w.into_inner(), 2);
/// ```
#[macro_export]
macro_rules! define_inner_service_accessors {
    () => {
        $crate::define_inner_service_accessors!(inner: S);
    };
    ($field:ident : $inner:ty) => {
        /// The inner service.
        pub fn get_ref(&self) -> &$inner {
            &self.$field
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut $inner {
            &mut self.$field
        }

        /// Consumes `self`, returning the inner service.
        pub fn into_inner(self) -> $inner {
            self.$field
        }
    };
}
