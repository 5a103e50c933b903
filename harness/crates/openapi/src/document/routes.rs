//! Routes: the operations of each path template in a `matchit` router, so that a concrete
//! path (`/orders/42`) finds the operation that answers a method on it, and its path
//! parameters. [`RouteError`] says whether the path or only the method is unknown.

use http::Method;

use super::operation::Operation;

/// Why no operation answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    UnknownPath,
    UnknownMethod,
}

/// Path template -> the operations of that path (indices into the document's operations).
#[derive(Default)]
pub(crate) struct Routes(matchit::Router<Vec<usize>>);

impl Routes {
    /// Adds a path template and its operations. Err: why the template cannot be routed.
    pub(super) fn insert(
        &mut self,
        template: &str,
        operations: Vec<usize>,
    ) -> Result<(), matchit::InsertError> {
        self.0.insert(template, operations)
    }

    /// The template a concrete path matches, with its path parameters (as in the path).
    pub(crate) fn at<'p>(
        &self,
        path: &'p str,
    ) -> Result<matchit::Match<'_, 'p, &Vec<usize>>, matchit::MatchError> {
        self.0.at(path)
    }

    /// The operation of `operations` that answers `method` on a concrete path.
    pub(super) fn find<'o>(
        &self,
        operations: &'o [Operation],
        method: &Method,
        path: &str,
    ) -> Result<&'o Operation, RouteError> {
        let matched = self.0.at(path).map_err(|_| RouteError::UnknownPath)?;
        matched
            .value
            .iter()
            .map(|&i| &operations[i])
            .find(|o| o.method == method)
            .ok_or(RouteError::UnknownMethod)
    }
}
