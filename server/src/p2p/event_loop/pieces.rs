//! The piece protocol's two sides in the loop: a trusted peer's request is
//! answered from the blob store off the loop (a disk read, once the bytes
//! are there), its answer sent when it comes back; this node's own requests are sent and their answers
//! (or failures) handed to whoever asked.

use libp2p::request_response::{self, ResponseChannel};
use libp2p::PeerId;
use tokio::sync::oneshot;

use super::EventLoop;
use crate::p2p::piece::{self, PieceRequest, PieceResponse};
use crate::p2p::wire;

/// An answer read off the loop, to send on its channel.
pub(super) type PieceAnswer = (ResponseChannel<PieceResponse>, PieceResponse);

impl EventLoop {
    pub(super) fn ask_piece(
        &mut self,
        peer: PeerId,
        request: PieceRequest,
        reply: oneshot::Sender<Option<PieceResponse>>,
    ) {
        let id = self.swarm.behaviour_mut().piece.send_request(&peer, wire::Request::Read(request));
        self.piece_replies.insert(id, reply);
    }

    pub(super) fn on_piece_event(
        &mut self,
        event: request_response::Event<wire::Request<PieceRequest>, PieceResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "piece request") else { return };
                    let (Some(server), true) = (self.pieces.clone(), self.trust.trusts(&peer)) else {
                        let _ = self.swarm.behaviour_mut().piece.send_response(channel, PieceResponse::NotHeld);
                        return;
                    };
                    let (answers, signer) = (self.piece_answers.0.clone(), self.identity.clone());
                    tokio::spawn(async move {
                        let _ = answers.send((channel, piece::answer_when_there(server, signer, request).await));
                    });
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(reply) = self.piece_replies.remove(&request_id) {
                        let _ = reply.send(Some(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, .. } => {
                if let Some(reply) = self.piece_replies.remove(&request_id) {
                    let _ = reply.send(None);
                }
            }
            _ => {}
        }
    }

    pub(super) fn send_piece(&mut self, (channel, response): PieceAnswer) {
        let _ = self.swarm.behaviour_mut().piece.send_response(channel, response);
    }
}
