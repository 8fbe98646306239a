//! A whole transport made of two halves forwards the contract to them: one definition of that
//! forwarding for every transport here (memory, MQTT, `Link` and its boxed halves), and of their
//! shared error type.

/// Implements `Sender` for `$ty` by forwarding to the sending half `$half` (an expression of
/// `$this`, which stands for `self`) through the trait `$via` (`Sender`, or `DynSender` for a
/// boxed half).
macro_rules! forward_sender {
    ($ty:ty, $via:ident, |$this:ident| $half:expr) => {
        impl telemetra_core::transport::Sender for $ty {
            async fn send(
                &mut self,
                route: telemetra_core::Route,
                payload: &[u8],
            ) -> Result<(), <Self as telemetra_core::transport::ErrorType>::Error> {
                let $this = self;
                $via::send($half, route, payload).await
            }

            async fn send_acked(
                &mut self,
                route: telemetra_core::Route,
                payload: &[u8],
            ) -> Result<(), <Self as telemetra_core::transport::ErrorType>::Error> {
                let $this = self;
                $via::send_acked($half, route, payload).await
            }

            async fn close(&mut self) -> Result<(), <Self as telemetra_core::transport::ErrorType>::Error> {
                let $this = self;
                $via::close($half).await
            }
        }
    };
}

/// Implements `Receiver` for `$ty` by forwarding to the receiving half `$half`, like
/// [`forward_sender`].
macro_rules! forward_receiver {
    ($ty:ty, $via:ident, |$this:ident| $half:expr) => {
        impl telemetra_core::transport::Receiver for $ty {
            async fn subscribe(
                &mut self,
                filter: telemetra_core::RouteFilter,
            ) -> Result<(), <Self as telemetra_core::transport::ErrorType>::Error> {
                let $this = self;
                $via::subscribe($half, filter).await
            }

            async fn receive(
                &mut self,
                buf: &mut [u8],
            ) -> Result<telemetra_core::Delivery, <Self as telemetra_core::transport::ErrorType>::Error> {
                let $this = self;
                $via::receive($half, buf).await
            }

            fn try_receive(
                &mut self,
                buf: &mut [u8],
            ) -> Result<Option<telemetra_core::Delivery>, <Self as telemetra_core::transport::ErrorType>::Error>
            {
                let $this = self;
                $via::try_receive($half, buf)
            }
        }
    };
}

/// Implements `ErrorType` with error `$err` for a transport and its halves.
macro_rules! error_type {
    ($err:ty: $($ty:ty),+) => {
        $(impl telemetra_core::transport::ErrorType for $ty {
            type Error = $err;
        })+
    };
}

pub(crate) use {error_type, forward_receiver, forward_sender};
